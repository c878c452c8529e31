"""Provenance: an event counts only as the event of the subject it was stored on (bus/provenance.py).

A property over random envelopes and subjects, then the two attacks of a hub's service credentials on a
running mesh: an envelope that names another hub, and a manifest for another hub.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import msgspec
import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import wait_until
from tests.hubs.registry.test_manifest_hubs import call
from vsmesh.bus.creds import hub_user, load_creds
from vsmesh.bus.provenance import check_provenance, decode_stored
from vsmesh.bus.subjects import event_subject
from vsmesh.errors import InvalidEvent
from vsmesh.events.codec import decode_event
from vsmesh.events.envelope import Horizon


def raw_event(event_type: str, hub: str, subject: str | None, data: dict) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "attacker",
        "type": event_type,
        "subject": subject,
        "time": "2026-12-01T12:00:00Z",
        "datacontenttype": "application/json",
        "hub": hub,
        "actor": "mallory",
        "actorkind": "service",
        "data": data,
    }


slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)
types = st.sampled_from(["ops-health-checked", "ops-incident-opened", "fin-cost-recorded", "hub-manifest-activated"])
entities = st.one_of(st.none(), st.text(min_size=1, max_size=20).filter(lambda s: s.isprintable()))
horizons = st.sampled_from([h.value for h in Horizon])


@given(hub=slugs, other_hub=slugs, other_type=types, entity=entities, other_entity=entities, horizon=horizons)
def test_an_envelope_counts_only_on_its_own_subject(hub, other_hub, other_type, entity, other_entity, horizon):
    event = decode_event(msgspec.json.encode(raw_event("ops-health-checked", hub, entity, {"status": "green"})))
    check_provenance(event, event_subject(horizon, hub, "ops-health-checked", entity))  # as the publisher sets it
    for subject, same in [
        (event_subject(horizon, other_hub, "ops-health-checked", entity), other_hub == hub),
        (event_subject(horizon, hub, other_type, entity), other_type == "ops-health-checked"),
        (event_subject(horizon, hub, "ops-health-checked", other_entity), other_entity == entity),
        (f"{horizon}.{hub}.ops-health-checked", False),  # a subject of another shape
    ]:
        if same:
            check_provenance(event, subject)
        else:
            with pytest.raises(InvalidEvent, match="was stored on"):
                check_provenance(event, subject)


def test_decode_stored_names_both_sides():
    payload = msgspec.json.encode(raw_event("ops-health-checked", "fin-hub", "service/x", {"status": "red"}))
    with pytest.raises(InvalidEvent) as e:
        decode_stored(payload, None, "operational.ops-hub.ops-health-checked.service:x")
    message = str(e.value)
    assert "operational.ops-hub.ops-health-checked.service:x" in message and "'fin-hub'" in message
    assert "publish it again" in message


# --- on a running mesh, attacked with a hub's own service credentials (raw nats-py)


async def _as(nats_server, session_dir, user: str | None):
    """A raw client: a hub's service user, or the admin when `user` is None."""
    errors: list[Exception] = []

    async def keep(e: Exception) -> None:
        errors.append(e)

    if user is None:
        login = (nats_server.user, nats_server.password)
    else:
        creds = load_creds(session_dir, user)
        login = (creds.user, creds.password)
    nc = await nats.connect(nats_server.url, user=login[0], password=login[1], error_cb=keep,
                            max_reconnect_attempts=0)  # fmt: skip
    return nc, errors


@pytest.mark.usefixtures("running_mesh")
def test_an_envelope_naming_another_hub_is_quarantined_not_folded_audited_or_reverted(
    nats_server, session_dir, settings, cli
):
    svc = f"prov-{uuid.uuid4().hex[:8]}"
    forged = raw_event("ops-health-checked", "fin-hub", f"service/{svc}", {"status": "red"})
    subject = f"operational.ops-hub.ops-health-checked.service:{svc}"

    async def publish():
        nc, errors = await _as(nats_server, session_dir, hub_user("ops-hub"))
        try:
            ack = await nc.jetstream().publish(
                subject, json.dumps(forged).encode(), headers={"Nats-Msg-Id": forged["id"]}
            )
            return ack.seq
        finally:
            await nc.close()

    def check(name: str, status: str) -> int:
        done = cli("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/{name}",
                   "--data", json.dumps({"status": status}), "--json")  # fmt: skip
        return json.loads(done.stdout)["seq"]

    check(svc, "green")
    seq = asyncio.run(publish())  # the server takes it: the subject is ops-hub's, and so is this user
    after = check(f"{svc}-later", "green")  # applied once ops-hub has passed the forged event
    assert after > seq
    services = call(settings, "ops-hub", "get_services",
                    {"name": svc, "wait_for_seq": {"OPERATIONAL": after}})["services"]  # fmt: skip
    assert [s["status"] for s in services] == ["green"]  # the forged red never counted

    quarantined = json.loads(cli("quarantine", "list", "--json").stdout)
    mine = [q for q in quarantined if q["subject"] == subject and forged["id"] in q["reason"]]
    assert mine and "says hub 'fin-hub'" in mine[0]["reason"], quarantined[-3:]

    audit = json.loads(cli("audit", "--limit", "0", "--json").stdout)
    assert forged["id"] not in {row["id"] for row in audit}
    refused = cli("revert", forged["id"], "--reason", "forged")
    assert refused.exit_code == 1 and forged["id"] in refused.output


@pytest.mark.usefixtures("running_mesh")
def test_a_hub_user_cannot_re_manifest_another_hub(nats_server, session_dir, settings, cli):
    assert cli("hub", "bootstrap", "pol-hub").exit_code == 0
    before = json.loads(cli("hub", "show", "pol-hub", "--json").stdout)
    data = {"slug": "pol-hub", "event_types": ["pol-pwned"], "horizon": "tactical"}

    async def attack(user: str | None, subject: str, hub: str) -> list[Exception]:
        nc, errors = await _as(nats_server, session_dir, user)
        try:
            event = raw_event("hub-manifest-activated", hub, "hub/pol-hub", data)
            await nc.publish(subject, json.dumps(event).encode(), headers={"Nats-Msg-Id": event["id"]})
            await nc.flush()
            await asyncio.sleep(0.2)
            return errors
        finally:
            await nc.close()

    # Its own subject (the finding): NATS refuses a governance type to every hub user.
    errors = asyncio.run(attack(hub_user("ops-hub"), "constitutional.ops-hub.hub-manifest-activated.hub:pol-hub",
                                "ops-hub"))  # fmt: skip
    assert any("permissions violation" in str(e).lower() for e in errors), errors
    # The registry's namespace: a hub user may not publish there at all.
    errors = asyncio.run(attack(hub_user("ops-hub"), "constitutional.registry.hub-manifest-activated.hub:pol-hub",
                                "registry"))  # fmt: skip
    assert any("permissions violation" in str(e).lower() for e in errors), errors
    # Even the admin's own raw publish on another hub's subject is ignored by the registry: it reads only its
    # namespace, where a manifest for pol-hub must be stored under pol-hub's entry.
    asyncio.run(attack(None, "constitutional.ops-hub.hub-manifest-activated.hub:pol-hub", "ops-hub"))
    sentinel = cli("hub", "bootstrap", "syn-hub")  # moves the registry on past the forged events
    assert sentinel.exit_code == 0
    wait_until(lambda: json.loads(cli("hub", "show", "syn-hub", "--json").stdout)["active_manifest"], what="syn-hub")
    after = json.loads(cli("hub", "show", "pol-hub", "--json").stdout)
    assert after["active_manifest"] == before["active_manifest"]
    assert "pol-pwned" not in after["active_manifest"]["vocabulary"]["event_types"]
