"""The contract over NATS: answers from the read model, JSON errors instead of timeouts."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from tests.hub_lock import HeldHubLock
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ContractError
from vsmesh.hubs.contract import HubContext
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.projectors.engine.database import create_engine


async def test_summary_waits_for_the_event_just_published(nc, settings, running_mesh):
    publisher = Publisher(nc.jetstream(), settings)
    name = f"contract-{uuid.uuid4().hex[:6]}"

    def listed(summary: dict) -> dict | None:
        return next((s for s in summary["services"] if s["name"] == name), None)

    # ops-hub's projector is held behind on purpose: the event is stored but cannot be applied yet.
    with HeldHubLock(settings.database_url, "ops-hub"):
        stored = await publisher.publish(
            publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/{name}", data={"status": "amber"})
        )
        waiting = asyncio.create_task(
            ask(nc, "ops-hub", "get_domain_summary", {"wait_for_seq": {stored.stream: stored.sequence}})
        )
        # Asked after it on the same connection, a read without the wait answers at once, without the event;
        # the read that asked to wait is still waiting.
        assert listed(await ask(nc, "ops-hub", "get_domain_summary", {})) is None
        assert not waiting.done(), "the read answered before its sequence was applied"
    # Read-your-writes: no polling by the caller, the hub answers once it has applied the sequence.
    summary = await waiting
    assert {"name": name, "status": "amber"}.items() <= listed(summary).items()


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


async def test_a_contract_read_sees_one_snapshot_however_many_statements(nc, settings):
    """A handler reading in several statements must not see a batch committed between two of them (ops-hub's
    get_services once read a backup set's attributes committed after its inventory rows: a KeyError)."""
    engine = create_engine(settings)
    ctx = HubContext("ops-hub", ops_projection(), engine, nc.jetstream(), settings)
    table = f'public."snapshot_{uuid.uuid4().hex[:8]}"'
    count = sa.text(f"SELECT count(*) FROM {table}")
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"CREATE TABLE {table} (n int)"))
        async with ctx.read() as conn:
            first = (await conn.execute(count)).scalar_one()
            async with engine.begin() as writer:  # a projector's batch, committed meanwhile
                await writer.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))
            assert (await conn.execute(count)).scalar_one() == first == 0
        async with ctx.read() as conn:  # the next read sees it
            assert (await conn.execute(count)).scalar_one() == 1
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()
