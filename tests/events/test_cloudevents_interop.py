"""CloudEvents interop: events made by the real CloudEvents SDK and sent by a raw NATS client reach the hub
in both content modes, and events vsmesh publishes parse in the SDK."""

import asyncio
import json
import uuid

from cloudevents.core.bindings.http import HTTPMessage, from_structured, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.conftest import wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher


def sdk_event(name: str, status: str) -> CloudEvent:
    return CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "source": "https://example.org/probe",
            "type": "ops-health-checked",
            "subject": f"service/{name}",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "hub": "ops-hub",
            "actor": "probe",
            "actorkind": "service",
        },
        {"status": status, "metadata": {"probe": "sdk"}},
    )


def health_of(cli, name: str) -> str | None:
    services = json.loads(cli("summary", "ops-hub", "--json").stdout)["services"]
    return next((s["status"] for s in services if s["name"] == name), None)


def raw_publish(settings, subject: str, body: bytes, headers: dict[str, str]) -> None:
    async def go():
        nc = await connect(settings)
        try:
            await nc.jetstream().publish(subject, body, headers=headers)
        finally:
            await nc.close()

    asyncio.run(go())


def test_structured_mode_from_the_sdk_is_projected(settings, cli, running_mesh):
    name = f"ce-structured-{uuid.uuid4().hex[:6]}"
    message = to_structured(sdk_event(name, "amber"), JSONFormat())
    raw_publish(
        settings,
        f"operational.ops-hub.ops-health-checked.service:{name}",
        message.body,
        {"Content-Type": message.headers["content-type"]},
    )
    wait_until(lambda: health_of(cli, name) == "amber", timeout=15, what="an SDK structured event projected")


def test_binary_mode_from_the_sdk_is_projected(settings, cli, running_mesh):
    name = f"ce-binary-{uuid.uuid4().hex[:6]}"
    message = to_binary(sdk_event(name, "red"), JSONFormat())
    assert message.headers["ce-specversion"] == "1.0"  # attributes travel as ce- headers, data as the body
    raw_publish(settings, f"operational.ops-hub.ops-health-checked.service:{name}", message.body, dict(message.headers))
    wait_until(lambda: health_of(cli, name) == "red", timeout=15, what="an SDK binary event projected")


async def test_events_vsmesh_publishes_parse_in_the_sdk(settings, streams):
    nc = await connect(settings)
    try:
        publisher = Publisher(nc.jetstream(), settings)
        event = publisher.build(
            "ops-health-checked",
            hub="ops-hub",
            subject="service/sdk-reads",
            data={"status": "green", "metadata": {"k": "v"}},
        )
        stored = await publisher.publish(event)
        msg = await nc.jetstream().get_msg("OPERATIONAL", stored.sequence)
    finally:
        await nc.close()
    parsed = from_structured(
        HTTPMessage(headers={"content-type": "application/cloudevents+json"}, body=msg.data), JSONFormat()
    )
    assert parsed.get_id() == event.id
    assert parsed.get_type() == "ops-health-checked"
    assert parsed.get_subject() == "service/sdk-reads"
    assert parsed.get_extension("hub") == "ops-hub"
    assert parsed.get_data() == {"status": "green", "metadata": {"k": "v"}}
