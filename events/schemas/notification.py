"""notification-*: who was told what and when, what a silence held back, and the silences people set.

All operational: a notification and a silence matter for hours or days; the routes that decide them are canon's
policies, constitutional and kept forever.

Routes and receivers are canon policy values (`metadata.values.notify_routes`, `notify_receivers` of a
`canon-policy-declared` event), so they are versioned, attributable and revertible like any policy. Their shape
is checked here, when the policy is published (`PolicyDeclaredData.__post_init__`): a malformed route is refused
with one line naming the field, and the routes already in force stay. What the notifier does with them lives
in notify/. A receiver's secret is a reference (`{env:NAME}`, `{file:PATH}`) resolved at delivery, never a value.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from vsmesh.durations import parse_duration
from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Severity

ROUTES_KEY = "notify_routes"
RECEIVERS_KEY = "notify_receivers"
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
SECRET_REFERENCE = re.compile(r"^\{(env|file):([^{}]+)\}$")
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)]
Duration = Annotated[str, msgspec.Meta(min_length=1, description="e.g. 30s, 5m, 4h")]
Secret = Annotated[str, msgspec.Meta(pattern=SECRET_REFERENCE.pattern, description="{env:NAME} or {file:PATH}")]
QuietHours = Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d-\d\d:\d\d$", description="UTC, e.g. 18:00-08:00")]


class _Spec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What people write in a policy: unknown fields are refused, so a typo is an error, not a no-op."""


class Match(_Spec, kw_only=True):
    """Which events a route takes: each list is a set of globs (any may match); empty lists match everything."""

    hub: list[str] = []
    type: list[str] = []
    entity: list[str] = []
    horizon: list[Horizon] = []
    severity: Severity | None = None  # at least this severe (events without a severity never match one)


class Route(_Spec, kw_only=True):
    name: Name
    match: Match = Match()
    receivers: Annotated[list[Name], msgspec.Meta(min_length=1)]
    group_by: list[Literal["hub", "type", "entity", "severity"]] = msgspec.field(
        default_factory=lambda: ["hub", "type", "entity"]
    )
    group_wait: Duration = "0s"  # a group's first notification waits this long for more of its events
    group_interval: Duration = "1m"  # after one, the group's next waits at least this long
    repeat_interval: Duration = "4h"  # an unchanged state is told again only this often
    quiet_hours: dict[Horizon, QuietHours] = {}  # no notification of that horizon inside the window (UTC)
    chain: bool = False  # an on-call chain: an escalation's n-th overdue goes to receivers[n], not to all
    continue_: bool = msgspec.field(default=False, name="continue")  # later routes match too


class _Receiver(_Spec, kw_only=True, tag_field="kind"):
    attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 6  # then the notification is parked
    backoff: Duration = "2s"  # the first retry's delay, doubled each time (with jitter), at most 10 minutes
    timeout: Duration = "10s"


class WebhookReceiver(_Receiver, kw_only=True, tag="webhook"):
    """An HTTP POST of the CloudEvents, signed per Standard Webhooks when a secret is given."""

    url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    secret: Secret | None = None  # a `whsec_…` (base64) key, from the environment or a file
    headers: dict[str, str] = {}


class EmailReceiver(_Receiver, kw_only=True, tag="email"):
    host: str
    port: int = 587
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str
    to: Annotated[list[str], msgspec.Meta(min_length=1)]
    ca_file: str | None = None


class AppriseReceiver(_Receiver, kw_only=True, tag="apprise"):
    """Chat and push (ntfy, Slack, Matrix, Telegram, …) through Apprise URLs; a URL holding a token is a secret."""

    urls: Annotated[list[str], msgspec.Meta(min_length=1)]


class FileReceiver(_Receiver, kw_only=True, tag="file"):
    """A JSON line per notification appended to a file (relative: in the mesh's data dir): a local inbox."""

    path: Annotated[str, msgspec.Meta(min_length=1)]


Receiver = WebhookReceiver | EmailReceiver | AppriseReceiver | FileReceiver


class NotifyValues(_Spec, kw_only=True):
    """One policy's routes and the receivers they name (a route names receivers of its own policy)."""

    notify_routes: list[Route] = []
    notify_receivers: dict[Name, Receiver] = {}


def notify_values(values: Any) -> NotifyValues | None:
    """The routes and receivers among a policy's values; None when it declares none; ValueError naming the field."""
    if not isinstance(values, dict) or not (ROUTES_KEY in values or RECEIVERS_KEY in values):
        return None
    receivers = values.get(RECEIVERS_KEY, {})
    if isinstance(receivers, dict):  # one by one, so an error names the receiver (msgspec says `[...]` for a key)
        for name, receiver in receivers.items():
            _convert(receiver, Receiver, f".{RECEIVERS_KEY}.{name}")
    found = _convert({k: values[k] for k in (ROUTES_KEY, RECEIVERS_KEY) if k in values}, NotifyValues, "")
    for name, receiver in found.notify_receivers.items():
        _durations(f"{RECEIVERS_KEY}.{name}", receiver, ("backoff", "timeout"))
    names: set[str] = set()
    for i, route in enumerate(found.notify_routes):
        where = f"{ROUTES_KEY}[{i}]"
        if route.name in names:
            raise ValueError(f"metadata.values.{where}.name: a second route named {route.name!r}; rename one")
        names.add(route.name)
        _durations(where, route, ("group_wait", "group_interval", "repeat_interval"))
        unknown = [r for r in route.receivers if r not in found.notify_receivers]
        if unknown:
            known = ", ".join(sorted(found.notify_receivers)) or "none"
            raise ValueError(
                f"metadata.values.{where}.receivers: unknown receiver {unknown[0]!r}; declare it under "
                f"{RECEIVERS_KEY} of the same policy (declared: {known})"
            )
    return found


def _convert(value: Any, kind: Any, where: str) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as e:
        raise ValueError(_located(str(e), where)) from None


def _located(error: str, where: str) -> str:
    """msgspec's `Expected …, got … - at `$.a[0].b`` as `metadata.values.a[0].b: Expected …, got …`."""
    message, _, path = error.rpartition(" - at `$")
    if not message:
        return f"metadata.values{where}: {error}"
    path = where + path.rstrip("`")
    if path.endswith((".secret", ".password")):
        message = "a secret is a reference, {env:NAME} or {file:PATH}, never the value itself"
    return f"metadata.values{path}: {message}"


def _durations(where: str, spec: msgspec.Struct, fields: tuple[str, ...]) -> None:
    for name in fields:
        try:
            if parse_duration(getattr(spec, name)) < 0:
                raise ValueError(f"{getattr(spec, name)!r} is negative")
        except ValueError as e:
            raise ValueError(f"metadata.values.{where}.{name}: {e}") from None


class NotificationData(EventData, frozen=True, kw_only=True):
    """One (notification, receiver): the notification id is the webhook-id a receiver deduplicates on."""

    notification_id: str
    receiver: str
    route: str
    events: list[EventId]  # the events it tells of
    kind: Literal["firing", "resolved", "escalation"] = "firing"
    attempts: int = 1


class DeliveredData(NotificationData, frozen=True, kw_only=True):
    latency_ms: float | None = None  # first event stored → receiver answered


class FailedData(NotificationData, frozen=True, kw_only=True):
    error: str  # the receiver's answer or what went wrong (never a secret)
    parked: bool = False  # no more attempts: `vsmesh notify replay` sends it again
    retry_at: dt.datetime | None = None


class SuppressedData(NotificationData, frozen=True, kw_only=True):
    silence_id: EventId


class NotificationDelivered(Event, frozen=True, tag="notification-delivered"):
    """A receiver took a notification."""

    data: DeliveredData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
    reverted_with_cause: ClassVar[bool] = False


class NotificationFailed(Event, frozen=True, tag="notification-failed"):
    """An attempt failed; it is retried later, or parked after the last one (or at once on a 4xx answer)."""

    data: FailedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
    reverted_with_cause: ClassVar[bool] = False


class NotificationSuppressed(Event, frozen=True, tag="notification-suppressed"):
    """A silence held a notification back: recorded, not lost."""

    data: SuppressedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
    reverted_with_cause: ClassVar[bool] = False


class SilenceSetData(EventData, frozen=True):
    """Matchers (field → glob over hub, type, entity, horizon, severity; all must match) until a time."""

    matchers: Annotated[dict[str, str], msgspec.Meta(min_length=1)]
    until: dt.datetime
    reason: Annotated[str, msgspec.Meta(min_length=1)]
    starts_at: dt.datetime | None = None  # a maintenance window declared ahead; unset: at once

    def __post_init__(self) -> None:
        unknown = sorted(set(self.matchers) - set(SILENCE_FIELDS))
        if unknown:
            raise ValueError(f"matchers: no field {unknown[0]!r}; match on {', '.join(SILENCE_FIELDS)}")
        if self.starts_at is not None and self.starts_at >= self.until:
            raise ValueError("until: the silence would end before it starts")


SILENCE_FIELDS = ("hub", "type", "entity", "horizon", "severity")


class NotificationSilenceSet(Event, frozen=True, tag="notification-silence-set"):
    """A person holds notifications back for a while (its id is the silence's id)."""

    data: SilenceSetData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class SilenceExpiredData(EventData, frozen=True):
    silence_id: EventId


class NotificationSilenceExpired(Event, frozen=True, tag="notification-silence-expired"):
    """A silence's time ran out (published once, by the notifier)."""

    data: SilenceExpiredData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
