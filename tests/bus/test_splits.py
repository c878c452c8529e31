"""Split streams: the server puts each event in the partition our hash names, and a reader of a partition's
share hands on the events as the horizon stream stored them, from any position."""

from __future__ import annotations

import uuid

import nats
from nats.js.api import StreamConfig

from vsmesh.bus import nats_internals
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.splits import Share, Split, ensure_share, ensure_split, split_start, wait_share, wait_sourced
from vsmesh.bus.streams import ensure_streams
from vsmesh.projectors.engine.partitions import partition_of


def test_only_a_hubs_own_subjects_can_be_split():
    assert Split.of("OPERATIONAL", "operational.ops-hub.>", 2) == Split("OPERATIONAL", "operational", "ops-hub", 2)
    assert Split.of("OPERATIONAL", "operational.>", 2) is None
    assert Split.of("OPERATIONAL", "operational.*.ops-health-checked.>", 2) is None
    assert Split.of("OPERATIONAL", "operational.ops-hub.>", 1) is None


async def read_share(js, split: Split, index: int, after: int) -> list[tuple[int, str, str]]:
    return [(stream_sequence(m), m.subject, m.metadata.stream) for m in await share_messages(js, split, index, after)]


async def share_messages(js, split: Split, index: int, after: int = 0, share: Share | None = None) -> list:
    """What a partition reads of its share: by default filtering the split stream, or `share`'s own stream."""
    mirrored = share is not None
    share = share or Share(split, index, (split.share(index),))
    out = []
    subject = f"{split.horizon}.{split.hub}.>"
    reader = StreamReader(js, split.origin, subject, Start(after_seq=after), share=share, mirrored=mirrored)
    async with reader:
        async for batch in reader.drain_to_head(100):
            out += batch
    return out


async def publish_checks(settings, count: int, services: int):  # noqa: ANN201 - (client, js, hub, {seq: event})
    """`count` health checks of a new hub over `services` services, published; what was stored where."""
    nc = await connect(settings)
    js = nc.jetstream()
    await ensure_streams(js)
    hub = f"split-{uuid.uuid4().hex[:6]}"
    publisher = Publisher(js, settings, source="vsmesh/split-tests")
    events = [publisher.build("ops-health-checked", hub=hub, subject=f"service/svc-{i % services}",
                              data={"status": "green"}) for i in range(count)]  # fmt: skip
    stored = {p.sequence: e for e, p in zip(events, await publisher.publish_many(events), strict=True)}
    return nc, js, hub, stored


async def test_each_partition_reads_its_entities_as_the_horizon_stream_stored_them(settings):
    nc, js, hub, events = await publish_checks(settings, 400, 40)
    prefix = f"operational.{hub}.ops-health-checked.service:"
    stored = {seq: prefix + e.subject.removeprefix("service/") for seq, e in events.items()}
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
        assert await split_start(js, split.name, min(stored) - 1) == 0
    finally:
        await js.delete_stream(split.name)
        await nc.close()


async def test_a_split_event_reads_the_same_through_the_fast_parser_and_through_nats_py(settings):
    # The fast parser reads the horizon sequence and subject straight from the header block; nats-py's own
    # path reads them from the headers afterwards. Either way a partition sees what the horizon stream stored:
    # its subject, sequence and headers (the split's Nats-Stream-Source is the split's, not the event's).
    nc, js, hub, events = await publish_checks(settings, 60, 7)
    ids = {seq: e.id for seq, e in events.items()}
    split = Split("OPERATIONAL", "operational", hub, 2)
    plain = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    try:
        await ensure_split(js, split)
        await wait_sourced(js, split)
        for index in range(2):
            fast, stock = await share_messages(js, split, index), await share_messages(plain.jetstream(), split, index)
            assert fast and all(type(m) is nats_internals.Sourced for m in fast + stock)
            seen = [[(m.subject, m.data, m.headers, m.seq, m.metadata.stream, m.split_seq) for m in msgs]
                    for msgs in (fast, stock)]  # fmt: skip
            assert seen[0] == seen[1]
            assert all(m.headers == {"Nats-Msg-Id": ids[m.seq]} for m in fast)
            assert sorted(m.split_seq for m in fast) == [m.split_seq for m in fast]
    finally:
        await js.delete_stream(split.name)
        await plain.close()
        await nc.close()


async def test_a_partitions_own_stream_holds_its_share_and_the_other_subjects_it_names(settings):
    # A replay reads the partition's own stream end to end, with no filter: it must hold exactly its share and
    # the other partitions' events it was told to keep (here: their alerts), as the horizon stream stored them.
    nc, js, hub, events = await publish_checks(settings, 300, 30)
    publisher = Publisher(js, settings, source="vsmesh/split-tests")
    alerts = [publisher.build("alert-raised", hub=hub, subject=f"service/svc-{i}", data={"title": "slow"})
              for i in range(30)]  # fmt: skip
    for e, p in zip(alerts, await publisher.publish_many(alerts), strict=True):
        events[p.sequence] = e
    entity = {seq: e.subject.replace("/", ":") for seq, e in events.items()}  # the subject's last token
    split = Split("OPERATIONAL", "operational", hub, 2)
    shares = [Share(split, 0, (split.share(0), split.subject(1, "alert-raised"))), Share(split, 1, (split.share(1),))]
    try:
        for share in shares:
            await ensure_share(js, share)
            await ensure_share(js, share)  # a second process starting: the same streams, no error
        later = await publisher.publish_many(
            [publisher.build("alert-raised", hub=hub, subject="service/svc-late", data={"title": "late"})]
        )
        events[later[0].sequence] = None
        entity[later[0].sequence] = "service:svc-late"
        for share in shares:
            await wait_share(js, share)  # holds what was stored before, the late alert included
        read = [await share_messages(js, split, k, share=shares[k]) for k in range(2)]
        alerted = {seq for seq, e in events.items() if e is None or e.type == "alert-raised"}
        wanted = [
            sorted(s for s in entity if partition_of(entity[s], 2) == k or (k == 0 and s in alerted)) for k in (0, 1)
        ]
        for k in range(2):
            assert [stream_sequence(m) for m in read[k]] == wanted[k]
            assert all(m.subject.endswith(entity[stream_sequence(m)]) for m in read[k])
        assert set(wanted[0]) & set(wanted[1]) and set(wanted[0]) | set(wanted[1]) == set(entity)
        # Resuming from a position reads what comes after it, here too.
        middle = wanted[1][len(wanted[1]) // 2]
        assert [stream_sequence(m) for m in await share_messages(js, split, 1, middle, shares[1])] == [
            s for s in wanted[1] if s > middle
        ]
    finally:
        for name in [s.name for s in shares] + [split.name]:
            await js.delete_stream(name)
        await nc.close()


def test_only_an_id_then_a_source_header_block_is_read_in_place():
    source = b"Nats-Stream-Source: OPERATIONAL 12 operational.h.*.* split.h.operational.2.{{partition(2,2)}} s.t x"
    block = b"Nats-Msg-Id: abc\r\n" + source + b"\r\n\r\n"
    assert nats_internals._split_block(bytearray(block), 0, len(block)) == ("abc", 12, b"s.t")
    for other in (
        source + b"\r\nNats-Msg-Id: abc\r\n\r\n",  # the other order
        block[:-2] + b"X-Case: 1\r\n\r\n",  # a third header
        b"Nats-Msg-Id: abc\r\n" + source.replace(b" 12 ", b" x12 ") + b"\r\n\r\n",  # no sequence
        b"Nats-Msg-Id: abc\r\n\r\n",  # an event of the horizon stream itself
    ):
        assert nats_internals._split_block(bytearray(other), 0, len(other)) is None, other


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
