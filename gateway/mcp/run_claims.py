"""Claims on approved calls: what lets a gateway that died while running one find out whether it ran.

Before the gateway runs an approved call it creates the key `approval.<id>` in its bucket (once: a second create
finds the first), holding the id the call's event will have (derived from the approval) and the head of every
horizon stream at that moment. Whoever finds an earlier claim for an approval without an outcome looks for that
event on the hub's subjects past those heads (gateway/mcp/held_calls.py decides what follows).
"""

from __future__ import annotations

import datetime as dt

import msgspec
import structlog
from nats.js.client import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import HORIZON_STREAMS
from vsmesh.projectors.couplings.coupling import derived_id

log = structlog.get_logger(__name__)

CLAIMS = "gateway-approval"  # the namespace of the ids derived from an approval (its run's event, its outcome)
PREFIX = "approval."


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    approval_id: str
    hub: str
    event_id: str  # the id the run's event has
    heads: dict[str, int]  # stream -> its last sequence before the run
    at: dt.datetime
    earlier: bool = False  # found, not made: a run of this approval began before


class RunClaims:
    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self._js = js
        self._kv = kv

    async def claim(self, approval_id: str, hub: str) -> Claim:
        """This approval's claim: made now, or the one an earlier run made (`earlier`)."""
        heads = {stream: (await self._js.stream_info(stream)).state.last_seq for stream in HORIZON_STREAMS}
        event_id = derived_id(CLAIMS, approval_id, "run")
        made = Claim(approval_id=approval_id, hub=hub, event_id=event_id, heads=heads, at=dt.datetime.now(dt.UTC))
        try:
            await self._kv.create(PREFIX + approval_id, msgspec.json.encode(made))
            return made
        except KeyWrongLastSequenceError:
            entry = await self._kv.get(PREFIX + approval_id)
            earlier = msgspec.json.decode(entry.value or b"", type=Claim)
            return msgspec.structs.replace(earlier, earlier=True)

    async def stored_effect(self, claim: Claim) -> dict | None:
        """{id, stream, seq} of the claimed run's event if a stream holds it, else None."""
        for stream in HORIZON_STREAMS:
            subjects = f"{stream.lower()}.{claim.hub}.>"
            async with StreamReader(self._js, stream, subjects, Start(after_seq=claim.heads.get(stream, 0))) as reader:
                async for batch in reader.drain_to_head():
                    for msg in batch:
                        if (msg.headers or {}).get("Nats-Msg-Id") == claim.event_id:
                            return {"id": claim.event_id, "stream": stream, "seq": msg.metadata.sequence.stream}
        return None
