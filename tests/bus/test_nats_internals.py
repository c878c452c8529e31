"""What bus/nats_internals.py takes from nats-py's private internals still holds, on a real nats-server.

If nats-py changes what the module relies on, the first test says so by name; the others show the
internal doing what nats-py's own public path does (every message, once, in order), and that our client
reads headers as nats-py does (multi-value names, status lines, non-ASCII values).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from importlib.metadata import version

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from vsmesh.bus import nats_internals
from vsmesh.bus.connection import connect
from vsmesh.bus.nats_internals import (
    DIRECT_DELIVERY,
    deliver_directly,
    delivers_directly,
    missing_internals,
    public_only,
)
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.streams import ensure_streams


def test_nats_py_still_has_every_internal_bus_nats_internals_relies_on():
    missing = missing_internals()
    assert not missing, (
        f"nats-py {version('nats-py')} changed internals that vsmesh/bus/nats_internals.py relies on: "
        + "; ".join(missing)
        + ". Re-measure them there (bench/_compare_internals.py) and adapt or remove them, then move the "
        "nats-py pin in pyproject.toml"
    )


def test_an_unknown_name_in_the_switch_is_one_clear_error():
    assert public_only({"VSMESH_NATS_PUBLIC": "all"}) == frozenset(nats_internals.INTERNALS)
    assert public_only({}) == frozenset()
    with pytest.raises(ValueError, match="VSMESH_NATS_PUBLIC names unknown internals \\['direct'\\]"):
        public_only({"VSMESH_NATS_PUBLIC": "direct"})


# --- headers: nats-py's own parser again (the override did not measurably pay) -----------------------------

# Header blocks as the server delivers them, status lines included (heartbeats, no-messages, 503).
HEADER_BLOCKS = [
    b"NATS/1.0\r\nNats-Msg-Id: a1\r\n\r\n",
    b"NATS/1.0\r\nX-Twice: first\r\nX-Twice: second\r\nX-Other: o\r\n\r\n",  # a name twice: the last wins
    b"NATS/1.0\r\nX-Case: \xc3\xa9 \xc3\xbc\r\nX-Bad: \xff\xfe\r\nbad name: x\r\nNoColon\r\n\r\n",
    b"NATS/1.0\r\nName:NoSpace\r\nTabbed:\tvalue \r\n\r\n",
    b"NATS/1.0 503\r\n\r\n",
    b"NATS/1.0 404 No Messages\r\n\r\n",
    b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\nNats-Last-Stream: 7\r\n\r\n",
    b"NATS/1.0 409 Consumer Deleted\r\nX-Extra: 1\r\n\r\n",
]


async def test_headers_read_in_place_are_what_nats_py_reads(settings):
    nc = await connect(settings, name="headers-in-place")
    source = b"Nats-Stream-Source: OPERATIONAL 12 operational.h.*.* split.h.operational.2.{{partition(2,2)}} x y"
    blocks = [
        b"NATS/1.0\r\nNats-Msg-Id: a1\r\n\r\n",
        b"NATS/1.0\r\nNats-Msg-Id: a1\r\n" + source + b"\r\n\r\n",
        b"NATS/1.0\r\n" + source + b"\r\n\r\n",
        b"NATS/1.0\r\nNats-Msg-Id: a1\r\nNats-Msg-Id: a2\r\n\r\n",  # twice: nats-py's way (the last)
        b"NATS/1.0\r\nNats-Msg-Id: a1\r\nX-Other: o\r\n\r\n",
        b"NATS/1.0\r\nNats-Msg-Id: \xc3\xa9\r\n\r\n",
    ]
    try:
        for block in blocks:
            expected = nc._parse_header_lines(block[10:]) or None
            assert nats_internals._header_lines(nc, bytearray(block), 10, len(block)) == expected, block
    finally:
        await nc.close()


async def _raw_publish(settings, subject: str, blocks: list[bytes]) -> None:
    """Send header blocks byte for byte with HPUB (nats-py's publish cannot send a name twice or a status)."""
    host, port = settings.nats_url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    await reader.readline()  # INFO
    login = {"user": settings.nats_user, "pass": settings.nats_password, "headers": True, "verbose": False}
    out = [f"CONNECT {json.dumps(login)}\r\n".encode()]
    for block in blocks:
        out.append(f"HPUB {subject} {len(block)} {len(block)}\r\n".encode() + block + b"\r\n")
    writer.write(b"".join(out) + b"PING\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"PONG"), "the server refused the raw publish"
    writer.close()


async def _collect(nc: Client, subject: str, n: int) -> tuple[asyncio.Future[list[Msg]], object]:
    got: list[Msg] = []
    done: asyncio.Future[list[Msg]] = asyncio.get_running_loop().create_future()

    async def keep(msg: Msg) -> None:
        got.append(msg)
        if len(got) == n:
            done.set_result(got)

    sub = await nc.subscribe(subject, cb=keep)
    return done, sub


async def test_our_client_reads_the_same_headers_as_nats_py_off_the_wire(settings):
    # Two clients on one subject: ours (MeshClient) and nats-py as shipped; the same bytes reach both.
    ours = await connect(settings, name="headers-ours")
    theirs = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    try:
        subject = f"test.headers.{uuid.uuid4().hex[:8]}"
        ours_done, _ = await _collect(ours, subject, len(HEADER_BLOCKS))
        theirs_done, _ = await _collect(theirs, subject, len(HEADER_BLOCKS))
        await ours.flush()
        await theirs.flush()
        await _raw_publish(settings, subject, HEADER_BLOCKS)
        mine = [m.headers for m in await asyncio.wait_for(ours_done, 5)]
        shipped = [m.headers for m in await asyncio.wait_for(theirs_done, 5)]
    finally:
        await ours.close()
        await theirs.close()
    assert mine == shipped
    # And what they agree on is what a reader expects:
    assert mine[1] == {"X-Twice": "second", "X-Other": "o"}
    assert mine[2] == {"X-Case": "é ü", "X-Bad": "\ufffd\ufffd"}
    assert mine[4] == {"Status": "503"}
    assert mine[6] == {
        "Status": "100",
        "Description": "Idle Heartbeat",
        "Nats-Last-Consumer": "3",
        "Nats-Last-Stream": "7",
    }


async def test_headers_survive_a_round_trip_through_the_stream(settings):
    nc = await connect(settings, name="headers-test")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        subject = f"operational.ops-hub.ops-health-checked.service:hdr-{uuid.uuid4().hex[:6]}"
        ack = await js.publish(subject, b"{}", headers={"X-Case": "é ü", "Nats-Msg-Id": uuid.uuid4().hex})
        # Read as a replay does: an ordered consumer delivering the stored message with its headers.
        sub = await js.subscribe(subject, ordered_consumer=True, config=Start(after_seq=ack.seq - 1).consumer_config())
        msg = await sub.next_msg(timeout=5)
        await sub.unsubscribe()
    finally:
        await nc.close()
    assert msg.headers is not None and msg.headers.get("X-Case") == "é ü"


# --- direct delivery -------------------------------------------------------------------------------------


@pytest.fixture
async def js_publisher(settings):
    nc = await connect(settings, name="internals-test")
    await ensure_streams(nc.jetstream())
    yield nc.jetstream(), Publisher(nc.jetstream(), settings, source="vsmesh/internals-test")
    await nc.close()


async def _publish_health(publisher: Publisher, hub: str, n: int) -> list[int]:
    events = [
        publisher.build("ops-health-checked", hub=hub, subject=f"service/s{i % 50}", data={"status": "green"})
        for i in range(n)
    ]
    return [p.sequence for p in await publisher.publish_many(events)]


async def test_direct_delivery_hands_over_every_message_in_order_through_flow_control(js_publisher):
    js, publisher = js_publisher
    hub = f"ni-{uuid.uuid4().hex[:6]}-hub"
    # Enough bytes (~6 MB) that the server asks for flow-control replies more than once on the way.
    published = await _publish_health(publisher, hub, 20_000)
    got: list[int] = []
    done = asyncio.Event()

    def receive(msg: Msg) -> None:
        got.append(msg.metadata.sequence.stream)
        if len(got) == len(published):
            done.set()

    async def callback(msg: Msg) -> None:  # nats-py's path, for what arrived before the hand-over
        receive(msg)

    sub = await js.subscribe(
        f"operational.{hub}.>", stream="OPERATIONAL", cb=callback, ordered_consumer=True, pending_msgs_limit=-1
    )
    try:
        assert deliver_directly(sub, receive) and delivers_directly(sub), (
            "bus/nats_internals.deliver_directly did not take: nats-py's Subscription internals changed"
        )
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await sub.unsubscribe()
    assert got == published  # every message, once, in stream order


async def test_a_slow_reader_gets_every_message_in_order_with_direct_delivery_and_without(js_publisher, monkeypatch):
    js, publisher = js_publisher
    hub = f"ni-{uuid.uuid4().hex[:6]}-hub"
    published = await _publish_health(publisher, hub, 600)
    for public in (frozenset(), frozenset({DIRECT_DELIVERY})):
        monkeypatch.setattr(nats_internals, "PUBLIC_ONLY", public)  # the module's own switch, as bench/ sets it
        seen: list[int] = []
        async with StreamReader(js, "OPERATIONAL", f"operational.{hub}.>", Start(), max_queued=40) as reader:
            async for batch in reader.drain_to_head(25):
                seen += [m.metadata.sequence.stream for m in batch]
                await asyncio.sleep(0.001)  # slower than delivery: the queue fills, the reader pauses and resumes
        assert seen == published, f"switched off: {sorted(public)}"


async def test_our_jetstream_context_names_its_client_and_a_plain_one_still_publishes(settings, js_publisher):
    nc = await connect(settings, name="client-test")
    try:
        assert nc.jetstream().client is nc  # the publisher needs no JetStreamContext._nc
    finally:
        await nc.close()
    # A plain nats-py context (its client private): events are sent one by one, stored once, in order.
    plain = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    try:
        _, ours = js_publisher
        entity = f"service/plain-{uuid.uuid4().hex[:6]}"
        events = [ours.build("ops-health-checked", hub="ops-hub", subject=entity, data={"status": "green"})] * 2
        events.append(ours.build("ops-health-checked", hub="ops-hub", subject=entity, data={"status": "red"}))
        published = await Publisher(plain.jetstream(), settings).publish_many(events)
    finally:
        await plain.close()
    assert [p.duplicate for p in published] == [False, True, False]
    assert published[0].sequence == published[1].sequence < published[2].sequence


# --- the fast parser -------------------------------------------------------------------------------------


async def test_the_fast_parser_reads_what_nats_py_reads_off_a_stream(settings, js_publisher):
    js, publisher = js_publisher
    hub = f"ni-{uuid.uuid4().hex[:6]}-hub"
    subject = f"operational.{hub}.ops-health-checked.service:s"
    # Events as vsmesh stores them (one header), messages with other headers, none, big ones over many reads.
    await _publish_health(publisher, hub, 2_000)
    for i in range(200):
        if i % 3 == 0:
            await js.publish(subject, b"", headers={"X-Case": "é ü", "Nats-Msg-Id": f"{hub}-{i}", "X-Two": "2"})
        elif i % 3 == 1:
            await js.publish(subject, b"no headers at all " * (i % 7))
        else:
            await js.publish(subject, bytes(range(256)) * 400, headers={"Nats-Msg-Id": f"{hub}-{i}"})  # 100 KB
    await _publish_health(publisher, hub, 500)

    def seen(msgs: list[Msg]) -> list[tuple]:
        return [(m.subject, m.data, m.headers, m.metadata.sequence.stream) for m in msgs]

    nc = js.client
    assert isinstance(nc._ps, nats_internals._FastParser), "the fast parser did not take: see missing_internals()"
    ours: list[Msg] = []
    async with StreamReader(js, "OPERATIONAL", f"operational.{hub}.>", Start()) as reader:
        async for batch in reader.drain_to_head(500):
            ours += batch
    # nats-py as shipped, its own parser and queue, reading the same stream.
    plain = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    try:
        sub = await plain.jetstream().subscribe(f"operational.{hub}.>", stream="OPERATIONAL", ordered_consumer=True)
        shipped = [await sub.next_msg(timeout=10) for _ in range(len(ours))]
        await sub.unsubscribe()
    finally:
        await plain.close()
    assert len(ours) == 2_700
    assert seen(ours) == seen(shipped)  # same messages, same headers (or none), same order
    # The fast path took the plain ones (the status and flow-control messages are nats-py's), and the
    # sequence it read for each is the one its reply names.
    assert sum(type(m) is nats_internals.Delivered for m in ours) >= 2_500
    assert [stream_sequence(m) for m in ours] == [m.metadata.sequence.stream for m in ours]
    assert nc.stats["in_msgs"] >= 2_700  # the client's counters go on as nats-py's own path keeps them


def test_a_changed_nats_py_parser_falls_back_to_the_stock_one(monkeypatch):
    # Where nats-py's Parser.parse or Client._process_msg is not the reviewed source, our client reads with
    # nats-py's own parser (and the first test of this file names the function).
    client = nats_internals.Client()
    assert type(nats_internals.parser_for(client)) is nats_internals._FastParser
    monkeypatch.setitem(nats_internals.REVIEWED, "Client._process_msg", "0" * 16)
    nats_internals.changed_sources.cache_clear()
    try:
        assert type(nats_internals.parser_for(client)) is nats_internals.Parser
        assert any("Client._process_msg" in line for line in missing_internals())
    finally:
        monkeypatch.undo()
        nats_internals.changed_sources.cache_clear()
