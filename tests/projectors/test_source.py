"""The one event source projectors and couplings share: decoding, quarantine and retry, for both.

The projector side (a poison event quarantined, the batch goes on) is tests/projectors/test_poison.py; here
the source itself, and a coupling's reactor on it: a message that is no event, and a reaction that fails
on its cause, are quarantined and the coupling goes on; a server away is retried, never skipped.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from vsmesh.bus.connection import connect
from vsmesh.bus.quarantine_store import list_quarantined, replay
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import ConfigError, ContractUnavailable
from vsmesh.events.codec import encode_event
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.core import MessageSent
from vsmesh.events.schemas.dev import DevDecisionRecorded
from vsmesh.projectors.couplings.coupling import Coupling, Emit
from vsmesh.projectors.couplings.reactor import emitted, ensure_tables, start_reactors
from vsmesh.projectors.engine.source import decode, retry


async def read_all(js, subject: str) -> list:
    async with StreamReader(js, "TACTICAL", subject, Start()) as reader:
        return [m async for batch in reader.drain_to_head() for m in batch]


def decision(publisher, hub: str, subject: str, title: str = "t") -> Event:
    data = {"title": title, "decision": "d", "rationale": "r"}
    return publisher.build("dev-decision-recorded", hub=hub, subject=subject, data=data)


async def test_decode_sets_aside_what_is_not_an_event_and_passes_other_types(bus):
    js, publisher = bus
    hub = f"src-{uuid.uuid4().hex[:8]}"
    good = await publisher.publish(decision(publisher, hub, "decision/a"))
    await js.publish(f"tactical.{hub}.dev-decision-recorded.decision:b", b"{not json")
    other = publisher.build("dev-blocker-raised", hub=hub, subject="blocker/c",
                            data={"title": "x", "reason": "y", "service": "s"})  # fmt: skip
    await publisher.publish(other)
    # A valid event stored under another hub's subject: its envelope disagrees with where it is.
    forged = decision(publisher, "dev-hub", "decision/d")
    await js.publish(f"tactical.{hub}.dev-decision-recorded.decision:d", encode_event(forged))
    msgs = await read_all(js, f"tactical.{hub}.>")
    assert len(msgs) == 4

    every = decode(msgs)
    assert [e.id for _, _, e in every.events] == [good.event_id, other.id]
    assert len(every.rejected) == 2
    assert "json" in every.rejected[0].reason.lower()
    assert hub in every.rejected[1].reason or "dev-hub" in every.rejected[1].reason

    only = decode(msgs, types=frozenset({"dev-decision-recorded"}))
    assert [e.id for _, _, e in only.events] == [good.event_id] and only.passed == 1
    past = decode(msgs, after=msgs[1].metadata.sequence.stream)  # what a position already covers is skipped
    assert [e.id for _, _, e in past.events] == [other.id] and len(past.rejected) == 1


async def test_retry_repeats_a_transient_failure_and_hands_back_anything_else():
    stop, calls, reported = asyncio.Event(), [], []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("server away")
        return "done"

    got = await retry(flaky, stop=stop, transient=(ConnectionError,), on_error=reported.append, first_delay=0.01)
    assert got == "done" and len(calls) == 3 and len(reported) == 2

    async def broken() -> None:
        raise ValueError("about the message itself")

    with pytest.raises(ValueError):
        await retry(broken, stop=stop, transient=(ConnectionError,), on_error=reported.append)
    with pytest.raises(PermissionError):  # excluded from the transient kinds it belongs to
        await retry(_denied, stop=stop, transient=(OSError,), unless=(PermissionError,), on_error=reported.append)
    stop.set()
    assert await retry(_away, stop=stop, transient=(ConnectionError,), on_error=reported.append) is None


async def _denied() -> None:
    raise PermissionError("no")


async def _away() -> None:
    raise ConnectionError("still away")


async def test_a_coupling_quarantines_a_cause_its_reaction_fails_on_and_goes_on(bus, db, settings):
    js, publisher = bus
    run = uuid.uuid4().hex[:8]
    name = f"test-poison-{run}"
    hiccups = [ContractUnavailable("timeout", "canon-hub did not answer within 10 s")]

    async def react(event: Event, ctx) -> list[Emit]:
        subject = event.subject or ""
        if not subject.endswith(run):
            return []
        if subject.startswith("decision/poison"):
            raise KeyError("budget")  # a bug that fails on this cause every time
        if subject.startswith("decision/hiccup") and hiccups:
            raise hiccups.pop()  # a hub away once: the batch is tried again, not quarantined
        return [Emit("message-sent", "dev-hub", subject, {"to": "ops", "body": event.id})]

    coupling = Coupling(name, "dev-hub", "dev-hub", (DevDecisionRecorded,), react, (MessageSent,))
    nc = await connect(settings, name="test-source")
    await ensure_tables(db)
    stop = asyncio.Event()
    tasks, [stats] = start_reactors(nc, db, settings, [coupling], stop)
    try:
        poison = await publisher.publish(decision(publisher, "dev-hub", f"decision/poison-{run}"))
        bad = await js.publish(f"tactical.dev-hub.dev-decision-recorded.decision:bad-{run}", b"{not json")
        hiccup = await publisher.publish(decision(publisher, "dev-hub", f"decision/hiccup-{run}"))
        after = await publisher.publish(decision(publisher, "dev-hub", f"decision/after-{run}"))
        for _ in range(300):
            if stats.positions.get("TACTICAL", 0) >= after.sequence:
                break
            await asyncio.sleep(0.05)
        assert stats.positions.get("TACTICAL", 0) >= after.sequence, f"the coupling stalled: {stats}"
        async with db.connect() as conn:
            query = sa.select(emitted.c.cause_id).where(emitted.c.coupling == name, emitted.c.seq.is_not(None))
            causes = set((await conn.execute(query)).scalars())
        assert causes == {hiccup.event_id, after.event_id}  # published and recorded; nothing for the poison
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await nc.close()

    assert not hiccups and stats.rejected == 2  # the poison cause and the message that is no event
    entries = await list_quarantined(js)
    mine = [q for q in entries if q.found_by == f"coupling:{name}" and q.origin_stream == "TACTICAL"]
    poisoned = [q for q in mine if q.origin_seq == poison.sequence]
    assert len(poisoned) == 1 and f"coupling {name} failed on it: KeyError" in poisoned[0].reason
    # The message that is no event is one finding, kept once: by this coupling, by dev-hub's projector or by
    # legal's agent coupling (which reads every dev event), whichever found it first (the session's mesh runs them).
    [malformed] = [q for q in entries if (q.origin_stream, q.origin_seq) == ("TACTICAL", bad.seq)]
    finders = (f"coupling:{name}", "dev-hub", "coupling:dev-agent-to-legal")
    assert malformed.found_by in finders and "json" in malformed.reason.lower()
    with pytest.raises(ConfigError, match="replay would store it twice"):
        await replay(js, poisoned[0].seq)
