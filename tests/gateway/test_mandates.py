"""The mandate fold and the cap meter on their own: pure functions of canon-hub's events (no servers needed)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import msgspec
import pytest

from vsmesh.bus.publisher import Publisher
from vsmesh.errors import InvalidEvent
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.mcp.caps import CapMeter, Spend
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


# --- delegation, non-delegable powers, approve conditions, caps


def test_a_delegated_mandate_grants_at_most_its_delegators_scope_at_each_call(build):
    root = build("canon-mandate-granted", role="r", holder="lead", scope="ops-hub:read, fin-hub:read")
    wide = build("canon-mandate-granted", role="r", holder="bot", scope="ops-hub, fin-hub", delegated_from=root.id)
    book = book_of(root, wide)
    assert book.decide(BOT, "ops-hub", "get_services", False, NOW).allowed
    # The delegate's own scope says ops-hub writes; its delegator's does not: refused, and the reason says why.
    narrowed = book.decide(BOT, "ops-hub", "open_incident", True, NOW)
    assert not narrowed.allowed and f"delegated from {root.id}, which does not cover ops-hub:open_incident" in (
        narrowed.reason
    )
    # Revoking the delegator ends the delegate with it; reverting the revocation restores both.
    revoke = build("canon-mandate-revoked", mandate_id=root.id)
    book.apply(revoke)
    assert not book.decide(BOT, "ops-hub", "get_services", False, NOW).allowed
    assert [m.mandate_id for m in book.in_force(NOW)] == []
    book.apply(build("event-reverted", event_id=revoke.id, event_type=revoke.type, reason="by mistake"))
    assert book.decide(BOT, "ops-hub", "get_services", False, NOW).allowed


def test_a_delegation_from_nothing_or_in_a_loop_grants_nothing(build):
    orphan = build("canon-mandate-granted", role="r", holder="bot", scope="ops-hub", delegated_from="no-such-grant")
    assert not book_of(orphan).decide(BOT, "ops-hub", "get_services", False, NOW).allowed


def test_canon_names_powers_no_delegated_mandate_grants(build):
    policy = build(
        "canon-policy-declared", policy="delegation", title="Delegation",
        metadata={"values": {"non_delegable": ["canon-hub:write"]}},
    )  # fmt: skip
    root = build("canon-mandate-granted", role="r", holder="lead", scope="*")
    delegated = build("canon-mandate-granted", role="r", holder="bot", scope="canon-hub", delegated_from=root.id)
    direct = build("canon-mandate-granted", role="r", holder="other", scope="canon-hub")
    book = book_of(policy, root, delegated, direct)
    refused = book.decide(BOT, "canon-hub", "revoke_mandate", True, NOW)
    assert not refused.allowed and "non-delegable (canon policy delegation: canon-hub:write)" in refused.reason
    assert book.decide(BOT, "canon-hub", "get_mandates", False, NOW).allowed  # the rest of the scope holds
    # A mandate granted directly (not delegated) may hold the power.
    assert book.decide(Principal(subject="other", kind="agent"), "canon-hub", "revoke_mandate", True, NOW).allowed


@pytest.mark.parametrize(
    ("arguments", "held"),
    [
        ({"amount": "600.00", "currency": "EUR"}, True),
        ({"amount": 500, "currency": "EUR"}, False),
        ({"amount": "600", "currency": "USD"}, True),  # another currency cannot be compared: a person looks
        ({"amount": "600"}, True),  # no currency given: compared as the condition's
        ({"vendor": "hetzner"}, False),  # no amount: nothing to hold
    ],
)
def test_an_approve_condition_holds_calls_by_their_arguments(build, arguments, held):
    grant = build(
        "canon-mandate-granted",
        role="r",
        holder="bot",
        scope="fin-hub",
        approve=["fin-hub:record_cost amount > 500 EUR"],
    )
    decision = book_of(grant).decide(BOT, "fin-hub", "record_cost", True, NOW)
    assert decision.allowed
    found = decision.approval_needed("fin-hub", "record_cost", True, arguments)
    assert (found is not None) is held
    assert decision.approval_needed("fin-hub", "record_token_spend", True, arguments) is None


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("fin-hub:record_cost amount >> 500", "is not `HUB:OPERATION [ARGUMENT OP VALUE [CURRENCY]]`"),
        ("fin-hub:record_cost amount > cheap EUR", "a currency follows a number"),
        ("ops-hub:open_incident severity > high", "compares numbers"),
        ("__import__('os').system('x')", "is not `HUB:OPERATION"),
    ],
)
def test_a_condition_nobody_can_read_is_refused_when_granted(build, condition, problem):
    with pytest.raises(InvalidEvent, match=re.escape(problem)):
        build("canon-mandate-granted", role="r", holder="bot", scope="fin-hub", approve=[condition])


def test_caps_count_calls_per_minute_and_spend_per_period_along_the_chain(build):
    root = build(
        "canon-mandate-granted", role="r", holder="lead", scope="fin-hub",
        caps={"spend": {"amount": "100", "currency": "EUR", "per": "day"}},
    )  # fmt: skip
    grant = build(
        "canon-mandate-granted", role="r", holder="bot", scope="fin-hub", caps={"calls_per_minute": 3},
        delegated_from=root.id,
    )  # fmt: skip
    chain = book_of(root, grant).decide(BOT, "fin-hub", "record_cost", True, NOW).chain
    assert [m.mandate_id for m in chain] == [grant.id, root.id]
    meter = CapMeter()
    for _ in range(3):
        assert meter.refusal(chain, None, NOW, count_call=True) is None
        meter.count_call(chain)
    assert "allows 3 calls per minute" in meter.refusal(chain, None, NOW, count_call=True)
    # The delegator's spend cap bounds what the delegate spends, per calendar day.
    meter = CapMeter()
    meter.charge(chain, Spend(Decimal("80"), "EUR"), NOW)
    assert "allows 100 EUR per day; 80 spent" in meter.refusal(
        chain, Spend(Decimal("30"), "EUR"), NOW, count_call=False
    )
    assert meter.refusal(chain, Spend(Decimal("20"), "EUR"), NOW, count_call=False) is None
    assert meter.refusal(chain, Spend(Decimal("30"), "EUR"), NOW + dt.timedelta(days=1), count_call=False) is None
    assert "cannot be counted" in meter.refusal(chain, Spend(Decimal("1"), "USD"), NOW, count_call=False)


def test_a_meters_counts_carried_in_a_snapshot_refuse_in_a_new_meter_as_in_the_old(build):
    grant = build(
        "canon-mandate-granted", role="r", holder="bot", scope="fin-hub",
        caps={"calls_per_minute": 2, "spend": {"amount": "100", "currency": "EUR", "per": "month"}},
    )  # fmt: skip
    chain = book_of(grant).decide(BOT, "fin-hub", "record_cost", True, NOW).chain
    old = CapMeter()
    old.count_call(chain)
    old.count_call(chain)
    old.charge(chain, Spend(Decimal("90"), "EUR"), NOW)
    # What a restarted gateway reads back (plain JSON through the bucket) holds the old meter's counts.
    snapshot = msgspec.json.decode(msgspec.json.encode(old.snapshot(grant.id)))
    assert snapshot["calls"][0][1] == 2 and snapshot["spent"] == {"period": "2026-12", "amount": "90"}
    new = CapMeter()
    new.restore(grant.id, snapshot)
    assert "allows 2 calls per minute; the next is allowed in 6" in new.refusal(chain, None, NOW, count_call=True)
    assert "90 spent, 20 more would pass it" in new.refusal(chain, Spend(Decimal("20"), "EUR"), NOW, count_call=False)
    # A spend of another month starts from nothing; a failed call's spend is given back.
    assert new.refusal(chain, Spend(Decimal("20"), "EUR"), NOW + dt.timedelta(days=31), count_call=False) is None
    new.charge(chain, Spend(Decimal("90"), "EUR"), NOW, sign=-1)
    assert new.refusal(chain, Spend(Decimal("100"), "EUR"), NOW, count_call=False) is None


def test_only_a_persons_first_decision_in_time_approves_and_a_run_call_is_never_handed_over_again(build):
    def as_(event, actor: str, kind: str, at: dt.datetime = NOW):
        return msgspec.structs.replace(event, actor=actor, actorkind=kind, time=at)

    def asked():
        held = build(
            "canon-approval-requested", hub="fin-hub", operation="record_cost", arguments={"amount": "600"},
            arguments_hash="h", condition="fin-hub:record_cost amount > 500", mandate_id="m",
            expires_at=NOW + dt.timedelta(hours=1),
        )  # fmt: skip
        return as_(held, "bot", "agent")

    def decided(approval, decision: str, actor: str, kind: str, at: dt.datetime = NOW):
        event = build("canon-approval-decided", approval_id=approval.id, decision=decision, arguments_hash="h")
        return as_(event, actor, kind, at)

    first = asked()
    book = book_of(first)
    assert book.approvals.open_for("bot", "fin-hub", "record_cost", "h", NOW).approval_id == first.id
    book.apply(decided(first, "approved", "bot", "agent"))  # an agent's decision approves nothing
    book.apply(decided(first, "approved", "ada", "human", NOW + dt.timedelta(hours=2)))  # nor one after expiry
    assert book.approvals.ready() == [] and book.approvals.by_id[first.id].decision is None
    book.apply(decided(first, "denied", "grace", "human"))
    book.apply(decided(first, "approved", "ada", "human"))  # the first person's decision stands
    assert book.approvals.by_id[first.id].decision == "denied" and book.approvals.ready() == []

    second = asked()
    book.apply(second)
    book.apply(decided(second, "approved", "ada", "human"))
    assert [a.approval_id for a in book.approvals.ready()] == [second.id]
    # Once its outcome is on the log it is never handed over again (a restarted gateway folds the same).
    book.apply(build("canon-approval-executed", approval_id=second.id, outcome="executed"))
    assert book.approvals.ready() == []
