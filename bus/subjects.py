"""Subjects: `{horizon}.{hub}.{type}.{entity}`, with the entity escaped so it is one literal token."""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote

from vsmesh.errors import InvalidEvent

NO_ENTITY = "_"
# Characters a NATS token cannot hold literally, plus `%` so the escape stays reversible and `:`
# (it stands for `/`), so `a:b` and `a/b` stay two entities.
_UNSAFE = re.compile(r"[.*>%:\s]")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Control characters that are not whitespace (str.isspace counts \t-\r and \x1c-\x1f in), and lone
# surrogates. One search instead of a Python loop over the characters, about ten times faster for a service's
# subject (docs/performance.md §Reading); a rebuild names each entity once a batch (tests/bus/test_subjects.py
# checks every code point against the loop it replaced).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f\ud800-\udfff]")


def entity_token(subject: str | None) -> str:
    """The CloudEvents `subject` as one NATS token: `/` → `:`, unsafe characters %-encoded."""
    if not subject:
        return NO_ENTITY
    if _CONTROL.search(subject):
        raise InvalidEvent(f"subject {subject!r} holds control characters; use printable text")
    if subject == NO_ENTITY:
        return "%5F"  # `_` alone means "no entity"
    return _UNSAFE.sub(_escape, subject).replace("/", ":")


def _escape(match: re.Match[str]) -> str:
    # Byte-wise, so a wide character (U+3000 IDEOGRAPHIC SPACE) is as reversible as a dot.
    return "".join(f"%{b:02X}" for b in match.group().encode())


def entity_from_token(token: str) -> str | None:
    """Inverse of `entity_token`."""
    if token == NO_ENTITY:
        return None
    return unquote(token.replace(":", "/"), errors="strict")


@functools.lru_cache(maxsize=4096)
def check_slug(value: str, what: str) -> str:
    if not _SLUG.match(value):
        raise InvalidEvent(f"{what} {value!r} must be lower-case letters, digits and hyphens, e.g. ops-hub")
    return value


def contract_service(hub: str) -> str:
    """The name of a hub's contract service (nats.micro), also its NATS connection name in `vsmesh up`."""
    return f"vsmesh-{hub}"


@functools.lru_cache(maxsize=65536)
def event_subject(horizon: str, hub: str, event_type: str, subject: str | None) -> str:
    """The NATS subject an event is published on (cached: publishers repeat the same few entities)."""
    return f"{horizon}.{check_slug(hub, 'hub')}.{check_slug(event_type, 'event type')}.{entity_token(subject)}"


APPLIED = "mesh.applied"  # core NATS, no stream: `mesh.applied.{hub}` after each batch a live projector applied


def applied_subject(hub: str) -> str:
    """Where a hub's live projector says it applied a batch (its positions as JSON): live pages follow it."""
    return f"{APPLIED}.{hub}"
