"""What every hook source provides: a check that a delivery is genuine, and the events its payload means.

A source module (alertmanager, forge, argocd) offers one `Source`; the endpoint (endpoint.py) looks the hook up,
asks its source to verify the request, then to translate it, and publishes what comes back.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from vsmesh.errors import VsmeshError
from vsmesh.sources.hooks.store import Hook

# Event ids of hook events: the same thing reported twice (a repeat, a redelivery, a second Alertmanager of an
# HA pair) gets the same id, so the stream and the seen ledger store it once.
HOOK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "vsmesh:sources:hooks")


class HookRefused(VsmeshError):
    """A delivery the endpoint refuses: `status` is the HTTP answer, `reason` the metric's label."""

    def __init__(self, message: str, *, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def unauthorized(message: str, reason: str = "unauthorized") -> HookRefused:
    return HookRefused(message, status=401, reason=reason)


def malformed(message: str) -> HookRefused:
    return HookRefused(message, status=400, reason="malformed")


class Proposed(NamedTuple):
    """An event a delivery means; `key` is the source's own identity of it (its id derives from that)."""

    event_type: str
    hub: str
    subject: str | None
    data: dict[str, Any]
    key: str

    @property
    def event_id(self) -> str:
        return str(uuid.uuid5(HOOK_NAMESPACE, f"{self.event_type}:{self.key}"))


class Translated(NamedTuple):
    """What a verified delivery means: its events (none: a kind the source sends that vsmesh ignores, `ignored`
    says which) and the source's delivery id."""

    events: list[Proposed]
    delivery: str | None = None
    ignored: str | None = None


Headers = Mapping[str, str]  # lower-case names, as Starlette's Headers give them


@dataclass(frozen=True)
class Source:
    """One tool that posts to `/hooks/{name}/…`."""

    name: str
    default_hub: str
    verify: Callable[[Hook, Headers, bytes], None]  # raises HookRefused (401)
    translate: Callable[[Hook, Headers, bytes], Translated]  # raises HookRefused (400)
    title: str = ""
    event_types: tuple[str, ...] = ()  # what it publishes; empty: whatever a delivery names (Standard Webhooks)
    new_secret: Callable[[], str] = field(default=lambda: secrets.token_urlsafe(32))


def decode(body: bytes, type_: type, what: str) -> Any:
    """A payload decoded into the source's Structs; msgspec's error names the path of what is wrong."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.DecodeError as e:
        raise malformed(f"invalid {what} payload: {e}") from None


def hook_metadata(hook: Hook, delivery: str | None, **source: Any) -> dict[str, Any]:
    """`metadata` of every hook event: which hook it came by and the source's delivery id, then the source's own."""
    return {"hook": {"source": hook.source, "name": hook.name, "delivery": delivery}, **source}
