"""A rebuild batch folds only the newest event of each subject whose type the projection declares superseded.

A rebuild batch of 50,000 events over 10,000 services holds about five health checks per service, and each
overwrites all that the one before it wrote (`Projection.superseded` names the types that do). Decoding and
folding the older four was most of the fold's CPU per event (docs/performance.md §Rebuild). `plan` reads the
batch backwards: the newest message of each such subject is decoded and stands for its subject if it is a
valid, unreverted, not poisoned event with a handler (else the next older one is tried); the older ones are
set aside undecoded, but for their envelope time (a msgspec decode of two fields, a fraction of a full
decode), so that `aside_to_fold` can still name those whose row the hub's newest-rows table could keep.

Set-aside events count as applied. An invalid one among them is not counted as rejected: its effect was
overwritten either way, and a rebuild does not quarantine (the live projector, which sets nothing aside,
did when the event arrived).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlalchemy as sa
from nats.aio.msg import Msg

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import stream_sequence
from vsmesh.bus.subjects import NO_ENTITY
from vsmesh.errors import InvalidEvent
from vsmesh.events.binary import is_binary
from vsmesh.events.envelope import Event
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Projection


@dataclass
class Plan:
    """What a batch folds: `kept` in log order (`known`: those decoded already, by stream sequence), and the
    superseded messages set `aside`, newest first, with their envelope time."""

    kept: list[Msg]
    known: dict[int, Event] = field(default_factory=dict)
    aside: list[tuple[dt.datetime, Msg]] = field(default_factory=list)


class _Stamp(msgspec.Struct):
    time: dt.datetime
    schemaversion: int = 1


_STAMP = msgspec.json.Decoder(_Stamp)  # the envelope time of a structured event, and its schema version
_MSG_ID = "Nats-Msg-Id"  # the header every stored event carries


def plan(
    projection: Projection, msgs: list[Msg], after: int, reverted: frozenset[str], poisoned: dict[int, str]
) -> Plan:
    """Set aside the messages past `after` that a newer one of their subject supersedes in this batch."""
    assert projection.superseded is not None
    if msgs and stream_sequence(msgs[0]) <= after:  # a replayed delivery (rare): what is past `after` only
        msgs = [m for m in msgs if stream_sequence(m) > after]
    types = projection.superseded.types
    handler_for = projection.handler_for
    standing: dict[str, int] = {}  # subject -> schema version of the event that stands for it
    out = Plan([])
    kept, aside = out.kept, out.aside
    decode_stamp = _STAMP.decode
    for msg in reversed(msgs):
        subject = msg.subject
        version = standing.get(subject)
        if version is not None:
            # `_stamp`, inline: it runs for most of a rebuild's events (a call and the header loop were a
            # sixth of its time; docs/performance.md §Rebuild). A block of the event's id alone is no binary event.
            headers = msg.headers
            if not headers or (len(headers) == 1 and _MSG_ID in headers) or not is_binary(headers):
                try:
                    stamp = decode_stamp(msg.data)
                except msgspec.DecodeError:
                    stamp = None
                if stamp is not None and stamp.schemaversion == version and stamp.time.tzinfo is not None:
                    aside.append((stamp.time, msg))
                    continue
        kept.append(msg)
        if version is not None:
            continue  # superseded, but read in full (another content mode or version): folded as ever
        parts = subject.split(".")
        if len(parts) != 4 or parts[2] not in types or parts[3] == NO_ENTITY:
            continue
        try:
            event = decode_stored(msg.data, msg.headers, subject)
        except InvalidEvent:
            continue  # the fold decodes it again and rejects it, with its reason
        seq = stream_sequence(msg)
        out.known[seq] = event
        if seq in poisoned or (reverted and event.id in reverted) or handler_for(type(event)) is None:
            continue
        standing[subject] = type(event).version
    kept.reverse()
    return out


def aside_to_fold(planned: Plan, changes: Changes, tail: sa.Table, stream: str) -> list[tuple[int, Msg]]:
    """The set-aside messages whose `tail` row could be among the batch's newest, in log order.

    The rows kept so far are a subset of those a fold of every event would offer, so the smallest key kept
    is at most the smallest it would keep: a message keyed below it cannot be kept and stays aside.
    """
    floor: Any = changes.newest_floor(tail)
    picked = []
    for time, msg in planned.aside:
        if floor is not None and time < floor[0]:
            continue
        seq = stream_sequence(msg)
        if floor is None or (time, stream, seq) > floor:
            picked.append((seq, msg))
    picked.reverse()
    return picked
