"""What was stored in the streams after a moment: the session's mesh publishes on its own (canon's scheduled
checks, the chain's signed checkpoints, couplings), so a test compares what it cares about, not stream heads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from nats.js import JetStreamContext

from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import HORIZON_STREAMS


async def heads(js: JetStreamContext, streams: Iterable[str] = HORIZON_STREAMS) -> dict[str, int]:
    return {s: (await js.stream_info(s)).state.last_seq for s in streams}


async def stored_since(js: JetStreamContext, before: dict[str, int]) -> list[dict[str, Any]]:
    """Every JSON event stored after `before`'s sequences (structured CloudEvents, envelope and data)."""
    found = []
    for stream, seq in before.items():
        async with StreamReader(js, stream, f"{stream.lower()}.>", Start(after_seq=seq)) as reader:
            async for batch in reader.drain_to_head():
                found += [json.loads(m.data) for m in batch if m.data.startswith(b"{")]
    return found
