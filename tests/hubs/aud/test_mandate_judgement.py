"""Whether an agent's event was covered by a mandate at its time, as the audit judges it from canon's history: pure,
events built (not published), no servers."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from vsmesh.bus.creds import hub_permissions
from vsmesh.bus.publisher import Publisher
from vsmesh.events.envelope import Event
from vsmesh.hubs.aud.mandate_check import grants
from vsmesh.hubs.audit import Stored
from vsmesh.settings import Settings

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
BUILD = Publisher(None, Settings(actor="ada"))  # build only: nothing is published


def at(event: Event, minutes: float) -> Event:
    return msgspec.structs.replace(event, time=T0 + dt.timedelta(minutes=minutes))


def granted(minutes: float, scope: str, **extra) -> Event:
    data = {"role": "Operator", "holder": "deploy-bot", "scope": scope, **extra}
    return at(BUILD.build("canon-mandate-granted", hub="canon-hub", subject="mandate/deploy-bot", data=data), minutes)


def revoked(minutes: float, mandate_id: str) -> Event:
    data = {"mandate_id": mandate_id}
    return at(BUILD.build("canon-mandate-revoked", hub="canon-hub", subject="mandate/deploy-bot", data=data), minutes)


def reverted(minutes: float, event_id: str) -> Event:
    data = {"event_id": event_id, "reason": "granted by mistake"}
    return at(BUILD.build("event-reverted", hub="canon-hub", subject="mandate/deploy-bot", data=data), minutes)


def covered(canon: list[Event], reverts: list[Event], hub: str, minutes: float) -> bool:
    book = grants([Stored(e, "CONSTITUTIONAL", i) for i, e in enumerate(canon, 1)], reverts)
    return any(g.lets_write("deploy-bot", hub, T0 + dt.timedelta(minutes=minutes)) for g in book)


@pytest.mark.parametrize(
    ("scope", "constraints", "hub", "expected"),
    [
        ("ops-hub:open_incident", [], "ops-hub", True),
        ("ops-*", [], "ops-hub", True),
        ("ops-hub:read", [], "ops-hub", False),  # reads only: no event of its own
        ("dev-hub", [], "ops-hub", False),
        ("ops-hub", ["read-only"], "ops-hub", False),
        ("*", ["not ops-hub"], "ops-hub", False),
        ("ops-hub", ["no production deletes"], "ops-hub", False),  # unknown: grants nothing, as at the gateway
    ],
)
def test_a_scope_covers_a_hub_for_writes_as_the_gateway_reads_it(scope, constraints, hub, expected):
    assert covered([granted(0, scope, constraints=constraints)], [], hub, 5) is expected


def test_a_mandate_covers_only_its_own_time():
    grant = granted(10, "ops-hub", granted_until=(T0 + dt.timedelta(minutes=60)).isoformat())
    end = revoked(30, grant.id)
    assert not covered([grant, end], [], "ops-hub", 5)  # before the grant
    assert covered([grant, end], [], "ops-hub", 20)
    assert not covered([grant, end], [], "ops-hub", 40)  # after its revocation
    assert not covered([grant], [], "ops-hub", 70)  # after its end
    # A revocation that was reverted ended nothing; a reverted grant ends at its revert.
    assert covered([grant, end], [reverted(35, end.id)], "ops-hub", 40)
    assert not covered([grant], [reverted(15, grant.id)], "ops-hub", 20)


def test_the_audit_reads_the_log_and_asks_other_hubs_reads_as_its_own_user():
    reads = ["get_services", "get_domain_summary"]
    allowed = hub_permissions("aud-hub", reads)["publish"]["allow"]
    assert "$JS.API.CONSUMER.CREATE.>" in allowed and "vsmesh.*.get_services" in allowed
    assert "vsmesh.*.run_audit" not in allowed  # no write of any hub
    assert not [s for s in hub_permissions("ops-hub", reads)["publish"]["allow"] if s.startswith("vsmesh.")]
