"""Alertmanager's webhook receiver (payload version 4): each alert → `alert-raised` or `alert-resolved`.

An alert is the same alert for as long as its `fingerprint` (a hash of its labels) and `startsAt` stay the
same, so its event ids derive from those two: Alertmanager's repeats (every `repeat_interval`, and the whole
group again whenever an alert joins it) and the second Alertmanager of an HA pair store nothing new. A
resolved alert's `alert_id` is the id its raise had, whether or not that raise was ever received.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from vsmesh.hubs import discovered
from vsmesh.sources.hooks.source import Headers, Proposed, Source, Translated, decode, hook_metadata
from vsmesh.sources.hooks.store import Hook
from vsmesh.sources.hooks.verify import check_token

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
# Alertmanager's `severity` label is free text; these are the spellings rule files use most.
SEVERITY = {
    "critical": "critical", "page": "critical", "high": "high", "error": "high", "major": "high",
    "warning": "medium", "warn": "medium", "medium": "medium", "low": "low", "minor": "low",
    "info": "info", "informational": "info", "none": "info",
}  # fmt: skip
ENTITY_LABELS = ("service", "app", "job")  # the first present names the service the alert is about


class Alert(msgspec.Struct, kw_only=True):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: NonEmpty = msgspec.field(name="startsAt")
    ends_at: str = msgspec.field(default="", name="endsAt")
    generator_url: str = msgspec.field(default="", name="generatorURL")
    fingerprint: NonEmpty


class Payload(msgspec.Struct, kw_only=True):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[Alert]
    receiver: str = ""
    group_key: str = msgspec.field(default="", name="groupKey")
    external_url: str = msgspec.field(default="", name="externalURL")
    truncated_alerts: int = msgspec.field(default=0, name="truncatedAlerts")


def verify(hook: Hook, headers: Headers, body: bytes) -> None:
    check_token(headers, hook.secret)


def translate(hook: Hook, headers: Headers, body: bytes) -> Translated:
    payload = decode(body, Payload, "Alertmanager webhook (version 4)")
    return Translated([_event(hook, payload, alert) for alert in payload.alerts])


def _event(hook: Hook, payload: Payload, alert: Alert) -> Proposed:
    key = f"{alert.fingerprint}@{alert.starts_at}"
    hub = _hub(hook, alert.labels)
    subject = _entity(alert)
    source = {
        "fingerprint": alert.fingerprint,
        "starts_at": alert.starts_at,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generator_url": alert.generator_url,
        "receiver": payload.receiver,
        "group_key": payload.group_key,
    }
    raised = Proposed("alert-raised", hub, subject, {}, key)
    if alert.status == "firing":
        data: dict[str, Any] = {
            "title": alert.annotations.get("summary") or alert.labels.get("alertname") or alert.fingerprint,
            "severity": SEVERITY.get(alert.labels.get("severity", "").lower(), "medium"),
            "description": alert.annotations.get("description"),
        }
        data = {k: v for k, v in data.items() if v is not None}
        return raised._replace(data={**data, "metadata": hook_metadata(hook, key, alertmanager=source)})
    resolution = f"resolved in Alertmanager at {alert.ends_at}" if alert.ends_at else "resolved in Alertmanager"
    data = {"alert_id": raised.event_id, "resolution": resolution}
    metadata = hook_metadata(hook, f"{key}/resolved", alertmanager={**source, "ends_at": alert.ends_at})
    return Proposed("alert-resolved", hub, subject, {**data, "metadata": metadata}, f"{key}/resolved")


def _hub(hook: Hook, labels: dict[str, str]) -> str:
    """The hub a `hub` label names, when it is a coded hub; otherwise the hook's."""
    named = labels.get("hub")
    return named if named and named in discovered() else hook.hub


def _entity(alert: Alert) -> str:
    for label in ENTITY_LABELS:
        if alert.labels.get(label):
            return f"service/{alert.labels[label]}"
    return f"alert/{alert.labels.get('alertname') or alert.fingerprint}"


SOURCE = Source(
    "alertmanager", "ops-hub", verify, translate, title="Prometheus Alertmanager",
    event_types=("alert-raised", "alert-resolved"),
)  # fmt: skip
