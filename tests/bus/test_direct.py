"""Direct gets read the same stored messages as a consumer would: bounded, filtered, page after page."""

from __future__ import annotations

import uuid

from vsmesh.bus.connection import connect
from vsmesh.bus.direct import PAGE, read_stored
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.streams import ensure_streams


async def consumed(js, stream: str, subject: str, after: int, last: int) -> list[tuple[int, str, bytes]]:
    out = []
    async with StreamReader(js, stream, subject, Start(after_seq=after)) as reader:
        async for batch in reader.drain_to_head(500, stop=lambda m: stream_sequence(m) > last):
            out += [(stream_sequence(m), m.subject, m.data) for m in batch]
    return out


async def test_a_direct_read_returns_what_a_consumer_reads(settings):
    nc = await connect(settings)
    js = nc.jetstream()
    await ensure_streams(js)
    hub = f"dg-{uuid.uuid4().hex[:6]}"
    publisher = Publisher(js, settings, source="vsmesh/direct-tests")
    # More of one entity's events than one page holds, interleaved with another entity's.
    events = [
        publisher.build("ops-health-checked", hub=hub, subject=f"service/{'b' if i % 50 == 0 else 'a'}",
                        data={"status": "green"})
        for i in range(PAGE + 60)
    ]  # fmt: skip
    published = await publisher.publish_many(events)
    first, last = published[0].sequence, published[-1].sequence
    try:
        for subject, after, upto in [
            (f"operational.{hub}.*.service:a", first - 1, last),  # all of a's, over two pages
            (f"operational.{hub}.*.service:b", first + 100, last - 100),  # a window of b's
            (f"operational.{hub}.>", last - 30, last - 10),  # the hub's, cut at both ends
        ]:
            got = await read_stored(js, "OPERATIONAL", subject, after, upto)
            # The stored subject and sequence, as a consumer delivers them, and nothing past `upto`.
            assert [(stream_sequence(m), m.subject, m.data) for m in got] == await consumed(
                js, "OPERATIONAL", subject, after, upto
            )
        assert len(await read_stored(js, "OPERATIONAL", f"operational.{hub}.*.service:a", first - 1, last)) > PAGE
        assert await read_stored(js, "OPERATIONAL", f"operational.{hub}.*.service:none", 0, last) == []
        assert await read_stored(js, "OPERATIONAL", f"operational.{hub}.>", last, last) == []
        # The event's id travels with it: a scoped revert finds the reverted event by it.
        ids = {m.headers["Nats-Msg-Id"] for m in await read_stored(js, "OPERATIONAL", f"operational.{hub}.>", 0, last)}
        assert ids == {e.id for e in events}
    finally:
        await nc.close()
