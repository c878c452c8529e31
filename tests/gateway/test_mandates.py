"""The mandate fold on its own: a pure function of canon-hub's events (no servers needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from vsmesh.bus.publisher import Publisher
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.mcp.mandates import MandateBook
from vsmesh.settings import Settings

BOT = Principal(subject="bot", kind="agent")
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def build():
    publisher = Publisher(None, Settings())  # build only: nothing is published

    def event(type_: str, **data):
        return publisher.build(type_, hub="canon-hub", subject="mandate/bot", data=data)

    return event


def book_of(*events) -> MandateBook:
    book = MandateBook()
    for e in events:
        book.apply(e)
    return book


def test_agents_are_denied_by_default_and_people_are_not():
    book = MandateBook()
    refused = book.decide(BOT, "ops-hub", "get_services", write=False, now=NOW)
    assert not refused.allowed and refused.missing == "ops-hub:get_services" and "holds no mandate" in refused.reason
    assert book.decide(Principal(subject="ada", kind="human"), "ops-hub", "open_incident", True, NOW).allowed


@pytest.mark.parametrize(
    ("scope", "hub", "operation", "write", "allowed"),
    [
        ("ops-hub", "ops-hub", "open_incident", True, True),
        ("ops-hub:read", "ops-hub", "get_services", False, True),
        ("ops-hub:read", "ops-hub", "open_incident", True, False),
        ("ops-hub:write", "ops-hub", "get_services", False, False),
        ("*:get_*", "fin-hub", "get_runway", False, True),
        ("ops-*:open_incident, dev-hub", "ops-hub", "open_incident", True, True),
        ("ops-*:open_incident dev-hub", "fin-hub", "record_cost", True, False),
    ],
)
def test_a_scope_names_hubs_and_operations(build, scope, hub, operation, write, allowed):
    book = book_of(build("canon-mandate-granted", role="r", holder="bot", scope=scope))
    assert book.decide(BOT, hub, operation, write, NOW).allowed is allowed


def test_expiry_constraints_revocation_and_reverts(build):
    expired = build(
        "canon-mandate-granted", role="r", holder="bot", scope="ops-hub", granted_until="2026-11-30T00:00:00Z"
    )
    assert not book_of(expired).decide(BOT, "ops-hub", "get_services", False, NOW).allowed

    narrowed = build("canon-mandate-granted", role="r", holder="bot", scope="ops-hub", constraints=["read-only"])
    book = book_of(narrowed)
    assert book.decide(BOT, "ops-hub", "get_services", False, NOW).allowed
    assert not book.decide(BOT, "ops-hub", "open_incident", True, NOW).allowed

    # A constraint the gateway cannot enforce makes the mandate grant nothing, and the refusal says why.
    odd = build("canon-mandate-granted", role="r", holder="bot", scope="ops-hub", constraints=["below 100 EUR"])
    refused = book_of(odd).decide(BOT, "ops-hub", "get_services", False, NOW)
    assert not refused.allowed and "unknown constraint 'below 100 EUR'" in refused.reason

    grant = build("canon-mandate-granted", role="r", holder="bot", scope="ops-hub")
    revoke = build("canon-mandate-revoked", mandate_id=grant.id)
    assert not book_of(grant, revoke).decide(BOT, "ops-hub", "get_services", False, NOW).allowed
    # Reverting the revocation restores the mandate; reverting the grant ends it.
    undo = build("event-reverted", event_id=revoke.id, event_type=revoke.type, reason="revoked by mistake")
    assert book_of(grant, revoke, undo).decide(BOT, "ops-hub", "get_services", False, NOW).allowed
    gone = build("event-reverted", event_id=grant.id, event_type=grant.type, reason="never meant")
    assert not book_of(grant, gone).decide(BOT, "ops-hub", "get_services", False, NOW).allowed
