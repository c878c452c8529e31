"""The contract over NATS: answers from the read model, JSON errors instead of timeouts."""

import uuid

import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ContractError


@pytest.fixture
async def nc(settings):
    client = await connect(settings)
    yield client
    await client.close()


async def test_summary_waits_for_the_event_just_published(nc, settings, running_mesh):
    publisher = Publisher(nc.jetstream(), settings)
    name = f"contract-{uuid.uuid4().hex[:6]}"
    stored = await publisher.publish(
        publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/{name}", data={"status": "amber"})
    )
    # Read-your-writes: no polling by the caller, the hub waits until it has applied the sequence.
    summary = await ask(nc, "ops-hub", "get_domain_summary", {"wait_for_seq": {stored.stream: stored.sequence}})
    assert {"name": name, "status": "amber"}.items() <= next(
        s for s in summary["services"] if s["name"] == name
    ).items()


async def test_bad_requests_come_back_as_json_errors(nc, running_mesh):
    with pytest.raises(ContractError, match="recent: Input should be less than or equal to 200") as bad:
        await ask(nc, "ops-hub", "get_domain_summary", {"recent": 5000})
    assert bad.value.code == "invalid_request"
    with pytest.raises(ContractError, match="Extra inputs are not permitted") as typo:
        await ask(nc, "ops-hub", "get_domain_summary", {"recnet": 5})
    assert typo.value.code == "invalid_request"
    reply = await nc.request("vsmesh.ops-hub.get_domain_summary", b"{not json", timeout=5)
    assert reply.headers["Nats-Service-Error-Code"] == "invalid_request"
    assert b'"code":"invalid_request"' in reply.data


async def test_a_hub_that_is_not_running_is_named(nc, running_mesh):
    with pytest.raises(ContractError, match="nobody-hub does not answer get_domain_summary") as e:
        await ask(nc, "nobody-hub", "get_domain_summary")
    assert e.value.code == "not_running"
