"""Split streams: the server puts each event in the partition our hash names, and a reader of a partition's
share hands on the events as the horizon stream stored them, from any position."""

from __future__ import annotations

import uuid

from nats.js.api import StreamConfig

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.splits import Share, Split, ensure_split, split_start, wait_sourced
from vsmesh.bus.streams import ensure_streams
from vsmesh.projectors.engine.partitions import partition_of


def test_only_a_hubs_own_subjects_can_be_split():
    assert Split.of("OPERATIONAL", "operational.ops-hub.>", 2) == Split("OPERATIONAL", "operational", "ops-hub", 2)
    assert Split.of("OPERATIONAL", "operational.>", 2) is None
    assert Split.of("OPERATIONAL", "operational.*.ops-health-checked.>", 2) is None
    assert Split.of("OPERATIONAL", "operational.ops-hub.>", 1) is None


async def read_share(js, split: Split, index: int, after: int) -> list[tuple[int, str, str]]:
    share = Share(split, (split.share(index),))
    out = []
    subject = f"{split.horizon}.{split.hub}.>"
    async with StreamReader(js, split.origin, subject, Start(after_seq=after), share=share) as reader:
        async for batch in reader.drain_to_head(100):
            out += [(stream_sequence(m), m.subject, m.metadata.stream) for m in batch]
    return out


async def test_each_partition_reads_its_entities_as_the_horizon_stream_stored_them(settings):
    nc = await connect(settings)
    js = nc.jetstream()
    await ensure_streams(js)
    hub = f"split-{uuid.uuid4().hex[:6]}"
    publisher = Publisher(js, settings, source="vsmesh/split-tests")
    events = [
        publisher.build("ops-health-checked", hub=hub, subject=f"service/svc-{i % 40}", data={"status": "green"})
        for i in range(400)
    ]
    stored = {p.sequence: f"operational.{hub}.ops-health-checked.service:svc-{i % 40}"
              for i, p in enumerate(await publisher.publish_many(events))}  # fmt: skip
    split = Split("OPERATIONAL", "operational", hub, 3)
    try:
        await ensure_split(js, split)
        await ensure_split(js, split)  # a second partition starting: the same stream, no error
        await wait_sourced(js, split)
        shares = [await read_share(js, split, k, 0) for k in range(3)]
        # Every event in exactly one share, the one our hash names, with the horizon's sequence and subject.
        assert sorted(seq for share in shares for seq, _, _ in share) == sorted(stored)
        for k, share in enumerate(shares):
            assert share and all(stored[seq] == subject for seq, subject, _ in share)
            assert all(partition_of(subject.rsplit(".", 1)[1], 3) == k for _, subject, _ in share)
            assert {stream for _, _, stream in share} == {"OPERATIONAL"}
            assert [seq for seq, _, _ in share] == sorted(seq for seq, _, _ in share)  # in log order
        # A partition resuming from its position (a horizon sequence) reads exactly what comes after it.
        middle = shares[1][len(shares[1]) // 2][0]
        assert await read_share(js, split, 1, middle) == [s for s in shares[1] if s[0] > middle]
        assert await split_start(js, split, min(stored) - 1) == 0
    finally:
        await js.delete_stream(split.name)
        await nc.close()


async def test_a_split_stream_keeps_events_as_long_as_its_horizon_stream(settings):
    nc = await connect(settings)
    js = nc.jetstream()
    await ensure_streams(js)
    split = Split("TACTICAL", "tactical", f"split-{uuid.uuid4().hex[:6]}", 2)
    try:
        await ensure_split(js, split)
        info = await js.stream_info(split.name)
        origin: StreamConfig = (await js.stream_info("TACTICAL")).config
        assert (info.config.max_age, info.config.num_replicas) == (origin.max_age, origin.num_replicas)
        assert info.config.sources[0].name == "TACTICAL"
    finally:
        await js.delete_stream(split.name)
        await nc.close()
