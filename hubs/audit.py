"""The audit: who did what, in which hub, and whether it stands or a person reverted it — read from the log.

One place for `vsmesh audit` (every action, any window) and for canon-hub's `get_agent_actions` (agents'
actions on the constitutional page and as an MCP tool). No hub's read model holds other hubs' actions: an
agent acts on every hub, in every horizon's stream, and each hub keeps only its own reverted ids
(projectors/engine/reverted.py). So both read the streams, and the revert state comes from the `event-reverted`
events of the constitutional stream, which hold every hub's reverts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import Start, Stop, StreamReader, stream_sequence
from vsmesh.bus.streams import HORIZON_STREAMS
from vsmesh.errors import InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.projectors.engine.reverted import REVERT_STREAM, effective

# Not actions: a refused call changed nothing (the constitutional page lists refusals on their own).
NOT_AGENT_ACTIONS = frozenset({"canon-call-refused"})


@dataclass(frozen=True)
class Stored:
    event: Event
    stream: str
    seq: int


async def history(
    js: JetStreamContext,
    subject: str = "*.>",
    start: Start | None = None,
    streams: tuple[str, ...] = HORIZON_STREAMS,
    *,
    stop: Stop | None = None,
    keep: Any = None,
) -> list[Stored]:
    """Every valid event of the horizon streams matching `subject` (its first token is the horizon), by time.

    Valid includes its provenance (bus/provenance.py): an event whose envelope contradicts its subject is
    nobody's action, so audit does not list it and revert does not find it. `stop` ends each stream's read
    before the first message it is true for; `keep(data, headers)` false skips a message before decoding.
    """
    found: list[Stored] = []
    rest = subject.partition(".")[2] or ">"
    for stream in streams:
        async with StreamReader(js, stream, f"{stream.lower()}.{rest}", start or Start()) as reader:
            async for batch in reader.drain_to_head(1000, stop=stop):
                for msg in batch:
                    if keep is not None and not keep(msg.data, msg.headers):
                        continue
                    try:
                        event = decode_stored(msg.data, msg.headers, msg.subject)
                    except InvalidEvent:
                        continue
                    found.append(Stored(event, stream, stream_sequence(msg)))
    found.sort(key=lambda s: s.event.time)
    return found


def revert_state(reverts: Iterable[Event]) -> tuple[frozenset[str], dict[str, list[Event]]]:
    """(the ids reverted now, the reverts of each id) from `event-reverted` events."""
    by_target: dict[str, list[Event]] = defaultdict(list)
    pairs = []
    for r in reverts:
        by_target[r.data.event_id].append(r)
        pairs.append((r.id, r.data.event_id))
    return effective(pairs), by_target


def audit_row(stored: Stored, reverted: frozenset[str], by_target: dict[str, list[Event]]) -> dict[str, Any]:
    """One action with its revert state: reverted (by whom, why, by which revert), restored, or standing."""
    e = stored.event
    active = [r for r in by_target.get(e.id, []) if r.id not in reverted]
    last = active[-1] if active else None
    return {
        "time": e.time,
        "actor": e.actor,
        "actor_kind": e.actorkind,
        "hub": e.hub,
        "type": e.type,
        "entity": e.subject,
        "id": e.id,
        "stream": stored.stream,
        "seq": stored.seq,
        "reverted": e.id in reverted,
        "reverted_by": last.actor if last else None,
        "revert_reason": last.data.reason if last else None,
        "revert_id": last.id if last else None,
        "reverted_at": last.time if last else None,
        "restored": bool(by_target.get(e.id)) and e.id not in reverted,
    }


async def reverts_since(js: JetStreamContext, since: dt.datetime | None = None) -> list[Event]:
    """Every hub's `event-reverted` events stored from `since` on (all of them without it).

    A revert always comes after what it reverts, and so does a revert of that revert: for actions from
    `since` on, the reverts from `since` on decide their state.
    """
    start = Start(at_time=since) if since is not None else Start()
    subject = f"{REVERT_STREAM.lower()}.*.{REVERT_TYPE}.>"
    return [s.event for s in await history(js, subject, start, (REVERT_STREAM,))]


# In a cluster each stream's leader stamps its own messages: reverts are read from this much before the oldest
# action's stored time, in case the constitutional stream's clock runs behind.
CLOCK_SLACK = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Window:
    """The part of one stream an agent-actions page read: sequences `start`..`end`, the stream from `first`."""

    stream: str
    first: int
    start: int
    end: int
    start_time: dt.datetime | None = None  # the stream time of `start`, once read

    @property
    def whole(self) -> bool:
        return self.start <= self.first


async def _end_before(js: JetStreamContext, stream: str, before: dt.datetime | None, last: int) -> int:
    """The last sequence stored before `before` (the head without it)."""
    if before is None:
        return last
    async with StreamReader(js, stream, f"{stream.lower()}.>", Start(at_time=before)) as reader:
        async for batch in reader.drain_to_head(1):
            return stream_sequence(batch[0]) - 1
    return last


async def _windows(js: JetStreamContext, before: dt.datetime | None, scan: int) -> list[Window]:
    found = []
    for stream in HORIZON_STREAMS:
        state = (await js.stream_info(stream)).state
        if not state.messages:
            continue
        end = await _end_before(js, stream, before, state.last_seq)
        if end >= state.first_seq:
            found.append(Window(stream, state.first_seq, max(state.first_seq, end - scan + 1), end))
    return found


def maybe_agent(data: bytes, headers: dict[str, str] | None) -> bool:
    """A cheap test before decoding: an agent's event names its kind in the JSON or in a binary-mode header."""
    return b'"agent"' in data or bool(headers and headers.get("ce-actorkind") == "agent")


async def _read_window(js: JetStreamContext, w: Window) -> tuple[Window, list[tuple[dt.datetime, Stored]]]:
    """The agents' events of one window with the time the stream stored each, and the window with the time
    it starts at. Stored times, not the envelopes': one clock for every stream, and a publisher may date an
    event in the past (an import), which would put it outside the window it was read in."""
    found: list[tuple[dt.datetime, Stored]] = []
    started: dt.datetime | None = None
    async with StreamReader(js, w.stream, f"{w.stream.lower()}.>", Start(after_seq=w.start - 1)) as reader:
        async for batch in reader.drain_to_head(1000, stop=lambda m: stream_sequence(m) > w.end):
            if started is None:
                started = batch[0].metadata.timestamp
            for msg in batch:
                if not maybe_agent(msg.data, msg.headers):
                    continue
                try:
                    event = decode_stored(msg.data, msg.headers, msg.subject)
                except InvalidEvent:
                    continue
                if event.actorkind == "agent" and event.type not in NOT_AGENT_ACTIONS:
                    found.append((msg.metadata.timestamp, Stored(event, w.stream, stream_sequence(msg))))
    return Window(w.stream, w.first, w.start, w.end, started), found


async def agent_actions(
    js: JetStreamContext,
    *,
    limit: int,
    scan: int,
    before: dt.datetime | None = None,
    agent: str | None = None,
    hub: str | None = None,
) -> dict[str, Any]:
    """The newest `limit` agent actions stored before `before`, each with its revert state, from the latest
    `scan` events of each horizon's stream (read through the bus: no read model holds every hub's actions).

    Bounded, so a page or an agent asking costs at most 4 × `scan` messages read. The answer covers every
    action from `covers_from` to `before` — a stream whose window did not reach its start leaves older
    actions unread, so rows older than its window are cut rather than shown with siblings missing — and
    `next_before` asks for the page before it (None: nothing older is stored).
    """
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=dt.UTC)  # a time without a zone is read as UTC, as everywhere in vsmesh
    windows, stored = [], []
    for w in await _windows(js, before, scan):
        read, found = await _read_window(js, w)
        windows.append(read)
        stored += found
    cut = max((w.start_time for w in windows if not w.whole and w.start_time), default=None)
    wanted = [
        (at, s)
        for at, s in stored
        if (agent is None or s.event.actor == agent)
        and (hub is None or s.event.hub == hub)
        and (before is None or at < before)
        and (cut is None or at >= cut)
    ]
    wanted.sort(key=lambda found: found[0], reverse=True)
    page = wanted[:limit]
    reverts = await reverts_since(js, page[-1][0] - CLOCK_SLACK) if page else []
    reverted, by_target = revert_state(reverts)
    more = len(wanted) > limit
    oldest = page[-1][0] if more else cut
    return {
        "actions": [audit_row(s, reverted, by_target) | {"stored_at": at} for at, s in page],
        "next_before": oldest,
        "covers_from": oldest,
        "scanned": {w.stream: {"from_seq": w.start, "to_seq": w.end, "whole": w.whole} for w in windows},
    }
