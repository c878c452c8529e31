"""Reading and replaying the QUARANTINE stream (`vsmesh quarantine list | show | replay`)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from vsmesh.bus.chain import CHAINED_STREAM, HASH, PREV, append
from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.quarantine import Quarantined
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import ConfigError, NotFound

STREAM = "QUARANTINE"


async def list_quarantined(js: JetStreamContext) -> list[Quarantined]:
    """Every message still in quarantine, oldest first."""
    out: list[Quarantined] = []
    async with StreamReader(js, STREAM, "quarantine.>", Start()) as reader:
        async for batch in reader.drain_to_head():
            out.extend(
                Quarantined.from_stored(m.metadata.sequence.stream, m.metadata.timestamp.isoformat(), m.data, m.headers)
                for m in batch
            )
    return out


async def get_quarantined(js: JetStreamContext, seq: int) -> Quarantined:
    try:
        raw = await js.get_msg(STREAM, seq)
    except NotFoundError:
        raise NotFound(f"no quarantined message {seq}; `vsmesh quarantine list` shows what is there") from None
    return Quarantined.from_stored(seq, str(raw.time or ""), raw.data or b"", raw.headers)


async def replay(js: JetStreamContext, seq: int) -> int:
    """Validate a quarantined message again (after a fix) and, if it passes, send it back to where it came from.

    Returns the new stream sequence; the quarantine entry is then removed. A message that still fails
    stays quarantined and the error says why.
    """
    q = await get_quarantined(js, seq)
    if q.found_by.startswith("coupling:"):
        # The event is stored and its hub applied it; sending it back would store it twice.
        raise ConfigError(
            f"quarantined message {seq} is a valid event {q.found_by}'s reaction failed on; replay would store it "
            "twice. Fix the coupling, then publish a new event for its cause (`vsmesh publish`)"
        )
    decode_stored(q.data, q.headers, q.origin_subject)  # InvalidEvent with today's reason when it is still bad
    headers = {**q.headers, "Nats-Msg-Id": f"replay:{q.origin_stream}:{q.origin_seq}"}
    headers = {k: v for k, v in headers.items() if k not in (PREV, HASH)}  # the link it had is not its link now
    if q.origin_stream == CHAINED_STREAM:
        ack = await append(js, q.origin_subject, q.data, headers, timeout=5.0)
    else:
        ack = await js.publish(q.origin_subject, q.data, headers=headers, stream=q.origin_stream)
    await js.delete_msg(STREAM, seq)
    return ack.seq
