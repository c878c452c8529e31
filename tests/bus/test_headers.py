"""Our header parser gives exactly nats-py's results, and messages read through our client keep their headers."""

import asyncio
import uuid

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client

from vsmesh.bus.connection import connect, parse_header_lines
from vsmesh.bus.reader import Start
from vsmesh.bus.streams import ensure_streams

_PIECES = st.sampled_from(
    [b"Nats-Msg-Id", b"ce-type", b":", b": ", b"\r\n", b" ", b"\t", b"\x1c", b"\xc3\xa9", b"\xff", b"x", b"", b"v"]
)


@given(st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=24).map(b"".join))
def test_the_header_parser_agrees_with_nats_py(raw: bytes):
    assert parse_header_lines(raw) == Client._parse_header_lines(raw)


def test_a_typical_event_header_block():
    raw = b"Nats-Msg-Id: 01a2-b3\r\nce-type:  ops-health-checked \r\nbad name: x\r\n\r\n"
    assert parse_header_lines(raw) == {"Nats-Msg-Id": "01a2-b3", "ce-type": "ops-health-checked"}


def test_headers_survive_a_round_trip_through_the_stream(settings):
    async def go() -> dict[str, str] | None:
        nc = await connect(settings, name="headers-test")
        try:
            js = nc.jetstream()
            await ensure_streams(js)
            subject = f"operational.ops-hub.ops-health-checked.service:hdr-{uuid.uuid4().hex[:6]}"
            ack = await js.publish(subject, b"{}", headers={"X-Case": "é ü", "Nats-Msg-Id": uuid.uuid4().hex})
            # Read as a replay does: an ordered consumer delivering the stored message with its headers.
            start = Start(after_seq=ack.seq - 1).consumer_config()
            sub = await js.subscribe(subject, ordered_consumer=True, config=start)
            msg = await sub.next_msg(timeout=5)
            await sub.unsubscribe()
            return msg.headers
        finally:
            await nc.close()

    headers = asyncio.run(go())
    assert headers is not None and headers.get("X-Case") == "é ü"
