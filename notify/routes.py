"""Routes in force and what they make of one event: which receivers hear of it, in which group, when (pure).

Routes come from canon's policies (`notify_routes`, `notify_receivers` in a policy's values; their shape is
checked when the policy is published, events/schemas/notification.py). They are matched top-down in the order of
the policies' slugs and then as written; the first match wins unless it says `continue`. A group gathers a
route's events with the same `group_by` values: its first notification waits `group_wait` for more, the next
`group_interval` after the one before, and an unchanged state is told again only after `repeat_interval`
(Alertmanager's meanings). Quiet hours of a horizon move a notification to the end of the window.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vsmesh.durations import parse_duration
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.alert import AlertRaised, AlertResolved
from vsmesh.events.schemas.canon import CanonEscalationOverdue, CanonEscalationRaised, CanonEscalationResolved
from vsmesh.events.schemas.notification import SEVERITIES, Match, Receiver, Route, notify_values
from vsmesh.events.schemas.ops import OpsHealthChecked
from vsmesh.events.schemas.risk import RiskMitigated, RiskSurfaced

NAMESPACE = uuid.UUID("0f7d3c52-61a4-4f7e-b0d2-3c8f1e4a9b27")  # never change: webhook-ids already sent derive from it

# What a health colour means to a person on call: a red check is as urgent as a high alert.
STATUS_SEVERITY = {"red": "high", "amber": "medium"}
# Events that open something a later event resolves: the resolving event names the opener's id.
OPENERS = (AlertRaised, RiskSurfaced, CanonEscalationRaised)
RESOLVERS: dict[type[Event], str] = {AlertResolved: "alert_id", RiskMitigated: "risk_id"}
RESOLVERS[CanonEscalationResolved] = "escalation_id"


@dataclass(frozen=True)
class Facts:
    """What routes and silences match on, taken from one event."""

    hub: str
    type: str
    entity: str
    horizon: str
    severity: str | None

    def as_dict(self) -> dict[str, str]:
        return {"hub": self.hub, "type": self.type, "entity": self.entity, "horizon": self.horizon,
                "severity": self.severity or ""}  # fmt: skip


def severity_of(event: Event) -> str | None:
    """The event's own severity, or the one its health colour means; None when it has neither."""
    data = event.data
    found = getattr(data, "severity", None)
    if isinstance(found, str):
        return found
    if isinstance(event, OpsHealthChecked):
        return STATUS_SEVERITY.get(str(data.status))
    return None


def facts_of(event: Event) -> Facts:
    return Facts(event.hub, event.type, event.subject or "", str(type(event).horizon), severity_of(event))


def _globs(patterns: list[str], value: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)


def matches(match: Match, facts: Facts) -> bool:
    if match.severity is not None:
        if facts.severity not in SEVERITIES or SEVERITIES.index(facts.severity) < SEVERITIES.index(match.severity):
            return False
    if match.horizon and facts.horizon not in match.horizon:
        return False
    return _globs(match.hub, facts.hub) and _globs(match.type, facts.type) and _globs(match.entity, facts.entity)


def silence_matches(matchers: Mapping[str, str], facts: Facts) -> bool:
    """A silence holds an event back when every one of its matchers (a glob per field) matches."""
    values = facts.as_dict()
    return all(fnmatch.fnmatchcase(values.get(name, ""), pattern) for name, pattern in matchers.items())


@dataclass(frozen=True)
class Routing:
    """The routes and receivers in force, and what could not be read (named, never guessed)."""

    routes: tuple[Route, ...] = ()
    receivers: dict[str, Receiver] = field(default_factory=dict)
    policy_of: dict[str, str] = field(default_factory=dict)  # route name → the policy declaring it
    ignored: tuple[str, ...] = ()


def routing(policies: Iterable[tuple[str, Any]]) -> Routing:
    """Routes and receivers from (policy slug, values) in force, in slug order; a receiver name declared by two
    policies is the later one's."""
    routes: list[Route] = []
    receivers: dict[str, Receiver] = {}
    policy_of: dict[str, str] = {}
    ignored: list[str] = []
    for slug, values in sorted(policies, key=lambda p: p[0]):
        try:
            found = notify_values(values)
        except ValueError as e:  # published before the check, or by another writer: left out, and said so
            ignored.append(f"policy {slug}: {e}")
            continue
        if found is None:
            continue
        receivers.update(found.notify_receivers)
        for route in found.notify_routes:
            if route.name in policy_of:
                ignored.append(f"policy {slug}: route {route.name!r} is already declared by {policy_of[route.name]}")
                continue
            routes.append(route)
            policy_of[route.name] = slug
    return Routing(tuple(routes), receivers, policy_of, tuple(ignored))


@dataclass(frozen=True)
class Planned:
    """One (notification, receiver) an event asks for: its id is the webhook-id every attempt carries."""

    notification_id: str
    route: str
    receiver: str
    group_key: str
    kind: str  # firing | escalation
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    quiet_hours: str | None


def notification_id(route: str, receiver: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{route}:{receiver}:{key}"))


def plan(event: Event, routing: Routing) -> list[Planned]:
    """The notifications an event asks for, top-down over the routes."""
    facts = facts_of(event)
    found: list[Planned] = []
    for route in routing.routes:
        if not matches(route.match, facts):
            continue
        receivers, kind, group = _receivers(route, event, facts)
        for receiver in receivers:
            found.append(
                Planned(
                    notification_id=notification_id(route.name, receiver, event.id),
                    route=route.name,
                    receiver=receiver,
                    group_key=group,
                    kind=kind,
                    group_wait_s=parse_duration(route.group_wait),
                    group_interval_s=parse_duration(route.group_interval),
                    repeat_interval_s=parse_duration(route.repeat_interval),
                    quiet_hours=route.quiet_hours.get(facts.horizon),  # type: ignore[call-overload]
                )
            )
        if not route.continue_:
            break
    return found


def _receivers(route: Route, event: Event, facts: Facts) -> tuple[list[str], str, str]:
    """(receivers, kind, group key). An on-call chain tells one receiver at a time: an escalation's n-th overdue
    goes to receivers[n] (the last one again beyond the chain), each one a notification of its own."""
    if route.chain and isinstance(event, CanonEscalationOverdue):
        step = min(event.data.re_escalation, len(route.receivers) - 1)
        key = f"{event.data.escalation_id}:{event.data.re_escalation}"
        return [route.receivers[step]], "escalation", key
    if route.chain:
        return [route.receivers[0]], "firing", event.id
    values = facts.as_dict()
    return list(route.receivers), "firing", "|".join(f"{k}={values[k]}" for k in route.group_by)


def resolves(event: Event) -> str | None:
    """The id of the event this one resolves (an alert, a risk, an escalation), if it resolves one."""
    name = RESOLVERS.get(type(event))
    return getattr(event.data, name) if name else None


def opens(event: Event) -> bool:
    return isinstance(event, OPENERS)


def fingerprint(event: Event) -> str:
    """The state an event tells: the same one told again waits for `repeat_interval`."""
    data = event.data
    state = getattr(data, "status", None) or getattr(data, "severity", None) or ""
    return f"{event.type}:{state}:{getattr(data, 'title', '')}"


def after_quiet_hours(when: dt.datetime, window: str | None) -> dt.datetime:
    """`when`, or the end of the quiet window (UTC, `HH:MM-HH:MM`, may span midnight) it falls into."""
    if not window:
        return when
    start_text, end_text = window.split("-")
    start, end = dt.time.fromisoformat(start_text), dt.time.fromisoformat(end_text)
    at = when.astimezone(dt.UTC)
    now = at.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return when
    ends = dt.datetime.combine(at.date(), end, tzinfo=dt.UTC)
    return ends if ends > at else ends + dt.timedelta(days=1)
