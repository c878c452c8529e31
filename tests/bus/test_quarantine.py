"""Quarantine: whatever a raw client puts on a stream, bad events are set aside with a reason, none is lost,
and the projector keeps going."""

import asyncio
import json
import uuid
from datetime import UTC, datetime

import nats
import pytest

from tests.conftest import wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.quarantine import FOUND_BY, ORIGIN_SEQ, ORIGIN_STREAM, ORIGIN_SUBJECT, REASON
from vsmesh.bus.quarantine_store import list_quarantined
from vsmesh.events.envelope import new_event_id


def cloudevent(**overrides) -> dict:
    event = {
        "specversion": "1.0",
        "id": new_event_id(),
        "source": "raw-client",
        "type": "ops-health-checked",
        "subject": "service/raw",
        "time": datetime.now(UTC).isoformat(),  # recent: stale health evidence turns red
        "hub": "ops-hub",
        "actor": "script",
        "actorkind": "service",
        "data": {"status": "green"},
    }
    event.update(overrides)
    return event


def with_js(settings, action):
    """Run `action(js)` on a raw connection of its own (these tests also drive the sync CLI)."""

    async def go():
        nc = await connect(settings)
        try:
            return await action(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(go())


def test_raw_bad_events_are_quarantined_with_reasons_and_good_ones_flow(settings, cli, running_mesh):
    tag = uuid.uuid4().hex[:6]
    subject = f"operational.ops-hub.ops-health-checked.service:q-{tag}"
    no_actor = cloudevent()
    del no_actor["actor"]
    bad = {
        "malformed": (b"{this is not json", "not a JSON event"),
        "unknown": (json.dumps(cloudevent(type="ops-teleported")).encode(), "unknown event type 'ops-teleported'"),
        "no-actor": (json.dumps(no_actor).encode(), "missing required field `actor`"),
        "shape": (json.dumps(cloudevent(data={"status": 3})).encode(), "$.data.status"),
        "version": (json.dumps(cloudevent(schemaversion=99)).encode(), "unsupported schemaversion 99"),
        # Valid, but its envelope names another hub and entity than the subject it is stored on.
        "elsewhere": (json.dumps(cloudevent(hub="fin-hub")).encode(), "but its envelope says hub 'fin-hub'"),
    }
    good = json.dumps(cloudevent(subject=f"service/q-good-{tag}", data={"status": "amber"})).encode()

    async def send(js):
        sent = {}
        for name, (payload, _) in bad.items():
            sent[(await js.publish(subject, payload, headers={"X-Case": name})).seq] = name
        await js.publish(f"operational.ops-hub.ops-health-checked.service:q-good-{tag}", good)
        return sent

    sent = with_js(settings, send)

    # The good event after the bad ones is applied: the projector did not stop.
    def shows_good() -> bool:
        summary = json.loads(cli("summary", "ops-hub", "--json").stdout)
        return any(s["name"] == f"q-good-{tag}" and s["status"] == "amber" for s in summary["services"])

    wait_until(shows_good, timeout=15, what="the good event after bad ones")

    def mine():
        found = with_js(settings, list_quarantined)
        return {q.origin_seq: q for q in found if q.origin_stream == "OPERATIONAL" and q.origin_seq in sent}

    quarantined = wait_until(
        lambda: len(mine()) == len(sent) and mine(), timeout=15, what="every bad event quarantined"
    )
    assert set(quarantined) == set(sent)
    for seq, name in sent.items():
        q = quarantined[seq]
        payload, reason = bad[name]
        # Original bytes and headers are kept, with where it came from and why it was set aside.
        assert q.data == payload and q.headers.get("X-Case") == name
        assert reason in q.reason, (name, q.reason)
        # Found by whichever reader of the subject met it first: ops-hub's projector or legal's agent coupling.
        assert q.origin_stream == "OPERATIONAL" and q.origin_subject == subject
        assert q.found_by in ("ops-hub", "coupling:ops-agent-to-legal")

    listing = cli("quarantine", "list", "--json")
    assert listing.exit_code == 0
    ids = {row["id"] for row in json.loads(listing.stdout) if row["subject"] == subject}
    assert len(ids) == len(sent)
    # Replaying a message that is still bad refuses with today's reason and keeps it in quarantine.
    some = min(ids)
    again = cli("quarantine", "replay", str(some))
    assert again.exit_code == 1 and "error:" in again.stderr
    assert some in {row["id"] for row in json.loads(cli("quarantine", "list", "--json").stdout)}


def test_replay_after_a_fix_sends_the_event_back_and_it_is_applied(settings, cli, running_mesh):
    # As if an older vsmesh had quarantined an event it could not read, and the fix has since landed.
    tag = uuid.uuid4().hex[:6]
    origin_subject = f"operational.ops-hub.ops-health-checked.service:fixed-{tag}"
    event = cloudevent(subject=f"service/fixed-{tag}", data={"status": "red"})
    headers = {
        REASON: "unknown event type (before the fix)",
        ORIGIN_STREAM: "OPERATIONAL",
        ORIGIN_SEQ: "1",
        ORIGIN_SUBJECT: origin_subject,
        FOUND_BY: "ops-hub",
    }
    payload = json.dumps(event).encode()
    ack = with_js(settings, lambda js: js.publish(f"quarantine.{origin_subject}", payload, headers=headers))
    result = cli("quarantine", "replay", str(ack.seq))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"replayed quarantined message {ack.seq} as sequence ")

    def shows_fixed() -> bool:
        summary = json.loads(cli("summary", "ops-hub", "--json").stdout)
        return any(s["name"] == f"fixed-{tag}" and s["status"] == "red" for s in summary["services"])

    wait_until(shows_fixed, timeout=15, what="the replayed event in the read model")
    assert ack.seq not in {q.seq for q in with_js(settings, list_quarantined)}


async def test_oversize_raw_publish_is_refused_by_the_stream(settings, streams):
    payload = json.dumps(cloudevent(data={"status": "green", "observations": {"x": "y" * (1 << 20)}})).encode()
    nc = await connect(settings)
    js = nc.jetstream()
    try:
        before = (await js.stream_info("OPERATIONAL")).state.last_seq
        with pytest.raises(nats.js.errors.APIError, match="message size exceeds maximum allowed"):
            await js.publish("operational.ops-hub.ops-health-checked.service:huge", payload)
        assert (await js.stream_info("OPERATIONAL")).state.last_seq == before
    finally:
        await nc.close()
