"""A notification as every receiver gets it, what an attempt came to, and what attempts send with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True)
class Channel:
    """What every attempt sends with: the process's environment (secrets), its HTTP client, the data dir."""

    environ: Mapping[str, str]
    http: Any  # an httpx.AsyncClient
    data_dir: Path
