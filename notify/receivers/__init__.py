"""Receivers: one module per protocol a notification can be delivered over, and what an attempt came to.

`deliver` sends one notification to one receiver and says how it went: delivered, failed for good (a 4xx answer
or a receiver that cannot work as declared: parked at once, no retry storm), or failed for now (a 5xx, a
timeout, a refused connection: tried again later). Heavy clients are imported by the module that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vsmesh.errors import ConfigError
from vsmesh.events.schemas.notify import AppriseReceiver, EmailReceiver, Receiver, WebhookReceiver


@dataclass(frozen=True)
class Message:
    """One notification as every receiver gets it: the CloudEvents it tells of, and a line and text for people."""

    notification_id: str  # the webhook-id: the same on every attempt, so a receiver can deduplicate
    kind: str  # firing | resolved | escalation
    route: str
    events: list[dict[str, Any]]
    body: bytes  # the JSON array of the CloudEvents, as signed and sent

    @property
    def title(self) -> str:
        first = self.events[0] if self.events else {}
        data = first.get("data") or {}
        what = data.get("title") or first.get("type", "notification")
        severity = data.get("severity") or data.get("status") or ""
        more = f" (+{len(self.events) - 1} more)" if len(self.events) > 1 else ""
        prefix = "RESOLVED: " if self.kind == "resolved" else ""
        return f"{prefix}[{severity}] {what}{more}".replace("[] ", "")

    @property
    def text(self) -> str:
        lines = [self.title, ""]
        for e in self.events:
            data = e.get("data") or {}
            lines.append(f"- {e.get('time')} {e.get('hub')} {e.get('type')} {e.get('subject') or ''}".rstrip())
            for key in ("title", "severity", "status", "description", "reason"):
                if data.get(key):
                    lines.append(f"    {key}: {data[key]}")
            lines.append(f"    event: {e.get('id')}")
        lines += ["", f"route {self.route}, notification {self.notification_id}"]
        return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error: str | None = None
    permanent: bool = False  # no attempt will do better: park now


DELIVERED = Outcome(True)


def failed(error: str, *, permanent: bool = False) -> Outcome:
    return Outcome(False, error[:500], permanent)


async def deliver(receiver: Receiver, message: Message, environ: Mapping[str, str], http: Any) -> Outcome:
    """One attempt; never raises for what the receiver or its declaration did wrong."""
    try:
        if isinstance(receiver, WebhookReceiver):
            from vsmesh.notify.receivers.webhook import post

            return await post(receiver, message, environ, http)
        if isinstance(receiver, EmailReceiver):
            from vsmesh.notify.receivers.email import send_mail

            return await send_mail(receiver, message, environ)
        if isinstance(receiver, AppriseReceiver):
            from vsmesh.notify.receivers.apprise import push

            return await push(receiver, message, environ)
    except ConfigError as e:  # a secret not set, a file not there: no retry helps until a person fixes it
        return failed(str(e), permanent=True)
    return failed(f"no receiver of kind {type(receiver).__name__}", permanent=True)
