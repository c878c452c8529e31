"""Routes are canon policy values: a malformed one is refused when published, one line naming the field, and the
routes in force stay; matching, groups, quiet hours and the on-call chain are pure and tested so."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.notify.conftest import policy
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import InvalidEvent
from vsmesh.events.codec import decode_event
from vsmesh.notify.routes import after_quiet_hours, plan, routing
from vsmesh.settings import Settings

HOOK = {"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}}
BUILD = Publisher(None, Settings(actor="ada"))  # type: ignore[arg-type] - build() validates without the bus


def _policy(receivers: dict, routes: list):
    return BUILD.build("canon-policy-declared", hub="canon-hub", subject="policy/notifications",
                       data=policy(receivers, routes))  # fmt: skip


@pytest.mark.parametrize(
    ("receivers", "routes", "named"),
    [
        (HOOK, [{"name": "r", "receivers": ["pager"]}], "notify_routes[0].receivers: unknown receiver 'pager'"),
        (
            HOOK,
            [{"name": "r", "receivers": ["hook"], "match": {"severity": "urgent"}}],
            "notify_routes[0].match.severity: Invalid enum value 'urgent'",
        ),
        (HOOK, [{"name": "r", "receivers": ["hook"], "mach": {}}], "notify_routes[0]: Object contains unknown field"),
        (HOOK, [{"name": "r", "receivers": ["hook"], "group_wait": "soon"}], "notify_routes[0].group_wait: 'soon'"),
        (
            {"hook": {"kind": "webhook", "url": "http://x", "secret": "whsec_abc"}},
            [],
            "notify_receivers.hook.secret: a secret is a reference, {env:NAME} or {file:PATH}",
        ),
        ({"hook": {"kind": "pigeon"}}, [], "notify_receivers.hook.kind: Invalid value 'pigeon'"),
    ],
)
def test_a_malformed_route_is_refused_at_publish_naming_the_field(receivers, routes, named) -> None:
    with pytest.raises(InvalidEvent) as refused:
        _policy(receivers, routes)
    message = str(refused.value)
    assert named in message and "\n" not in message
    assert "whsec_abc" not in message  # a secret written in the clear is never repeated back


def _event(event_type: str, data: dict, subject: str = "service/gitea", hub: str = "ops-hub"):
    return BUILD.build(event_type, hub=hub, subject=subject, data=data)


def test_routes_match_top_down_and_continue() -> None:
    hooks = {"a": HOOK["hook"], "b": HOOK["hook"]}
    routes = [
        {"name": "ops-critical", "match": {"hub": ["ops-*"], "severity": "critical"}, "receivers": ["a"],
         "continue": True},
        {"name": "high", "match": {"severity": "high"}, "receivers": ["b"]},
        {"name": "never", "match": {"severity": "high"}, "receivers": ["a"]},
    ]  # fmt: skip
    found = routing([("notifications", decode_event(_encode(_policy(hooks, routes))).data.metadata["values"])])
    critical = plan(_event("alert-raised", {"title": "x", "severity": "critical"}), found)
    assert [(p.route, p.receiver) for p in critical] == [("ops-critical", "a"), ("high", "b")]
    assert [p.route for p in plan(_event("alert-raised", {"title": "x", "severity": "medium"}), found)] == []
    # A red health check is as urgent as a high alert; a green one is nothing to tell.
    red = _event("ops-health-checked", {"status": "red"})
    assert [p.route for p in plan(red, found)] == ["high"]
    assert plan(_event("ops-health-checked", {"status": "green"}), found) == []
    # The same route, receiver and event always give the same webhook-id.
    assert plan(red, found)[0].notification_id == plan(red, found)[0].notification_id


def test_an_on_call_chain_tells_the_next_receiver_per_sla_period() -> None:
    chain = {"first": HOOK["hook"], "second": HOOK["hook"], "third": HOOK["hook"]}
    routes = [{"name": "on-call", "match": {"type": ["canon-escalation-*"]}, "receivers": ["first", "second", "third"],
               "chain": True}]  # fmt: skip
    found = routing([("oncall", _policy(chain, routes).data.metadata["values"])])
    raised = _event("canon-escalation-raised", {"title": "runway"}, "topic/runway", "canon-hub")
    assert [p.receiver for p in plan(raised, found)] == ["first"]
    told = []
    for n in (1, 2, 3):
        overdue = _event("canon-escalation-overdue", {"escalation_id": raised.id, "horizon": "strategic", "sla_s": 60,
                         "raised_at": raised.time.isoformat(), "due_at": raised.time.isoformat(), "re_escalation": n},
                         "topic/runway", "canon-hub")  # fmt: skip
        told += [(p.receiver, p.notification_id) for p in plan(overdue, found)]
    assert [r for r, _ in told] == ["second", "third", "third"]
    assert len({nid for _, nid in told}) == 3  # once per period: each its own notification


def test_quiet_hours_move_a_notification_to_the_end_of_the_window() -> None:
    night = dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC)
    assert after_quiet_hours(night, "18:00-08:00") == dt.datetime(2026, 12, 8, 8, 0, tzinfo=dt.UTC)
    noon = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    assert after_quiet_hours(noon, "18:00-08:00") == noon


def _encode(event):
    from vsmesh.events.codec import encode_event

    return encode_event(event)


def test_the_readme_route_example_is_a_policy_canon_accepts() -> None:
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Notifications") :]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    declared = BUILD.build("canon-policy-declared", hub="canon-hub", subject="policy/notifications", data=example)
    found = routing([("notifications", declared.data.metadata["values"])])
    assert [r.name for r in found.routes] == ["ops-urgent", "strategic-daytime", "everything-high"]
    assert not found.ignored
