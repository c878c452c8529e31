"""Provenance the server guarantees: an event is read as the event of the subject it was stored on.

NATS permissions govern subjects, not envelopes: a hub's service user may publish only `{horizon}.{hub}.>`
(bus/creds.py), so the subject's hub token is who could have stored the event; the envelope is only what
the publisher claims. Every read path (projectors, couplings, reverts, audit, trace, quarantine replay)
decodes through `decode_stored`, which refuses an event whose envelope names another hub, type or entity
than its subject: it is quarantined with that reason, never folded, audited or reverted. vsmesh's
publisher derives the subject from the envelope (bus/subjects.event_subject), so the two never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from vsmesh.bus.subjects import entity_token
from vsmesh.errors import InvalidEvent
from vsmesh.events.codec import decode_message
from vsmesh.events.envelope import Event


@functools.lru_cache(maxsize=65536)
def _tail(hub: str, event_type: str, subject: str | None) -> str:
    """`{hub}.{type}.{entity}`: the subject an envelope implies, after its horizon (cached: entities repeat)."""
    return f"{hub}.{event_type}.{entity_token(subject)}"


def check_provenance(event: Event, stored_subject: str) -> None:
    """InvalidEvent unless the envelope's hub, type and entity are the tokens of `stored_subject`."""
    try:
        implied = _tail(event.hub, event.type, event.subject)
    except InvalidEvent:
        implied = None
    # The stored subject is `{horizon}.{implied}`: it ends with it, right after its first dot (no new string).
    if implied is not None and stored_subject.endswith(implied):
        if stored_subject.find(".") == len(stored_subject) - len(implied) - 1:
            return
    raise InvalidEvent(
        f"event {event.id} was stored on {stored_subject} but its envelope says hub {event.hub!r}, type "
        f"{event.type!r}, subject {event.subject!r}: an event counts only for the hub, type and entity of its "
        "subject; publish it again with the envelope and subject alike (vsmesh's publisher sets both)"
    )


def decode_stored(data: bytes, headers: Mapping[str, str] | None, stored_subject: str) -> Event:
    """Decode a stored message (structured or binary CloudEvents) and check its provenance."""
    event = decode_message(data, headers)
    check_provenance(event, stored_subject)
    return event


__all__ = ["check_provenance", "decode_stored"]
