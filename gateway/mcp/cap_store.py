"""The caps' counts kept across gateway restarts: a copy of the CapMeter's counts in a JetStream key-value bucket.

The gateway decides from memory (gateway/mcp/caps.py); this module keeps one key per capped mandate
(`caps.<mandate id>`: its calls per second of the last minute and its spend in the current period), read back
when the gateway starts. A call that spends has its counts stored while its contract request is on its way (the
caller awaits both together: no round trip added, and the spend is in the bucket before the answer leaves). A
call that only counts against calls per minute is stored within `LAZY_S`, unawaited: awaiting a put per call
cost 1-2.6 ms at p50 on a loaded machine (bench/gateway.py, governed against plain), and a crash forgets at most
that last moment's calls of a rate limit. Puts of one key never overlap, and all changes made while one waits or
is in flight go in the next, so a burst costs a put per `LAZY_S` or per round trip, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Iterable
from typing import Any

import msgspec
import structlog
from nats.errors import Error as NatsError
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from vsmesh.gateway.mcp.caps import CapMeter

log = structlog.get_logger(__name__)

PREFIX = "caps."
LAZY_S = 0.1  # how long the counts of calls that spend nothing may wait for their put
_KEY_SAFE = re.compile(r"[-_=A-Za-z0-9]+")


def key_of(mandate_id: str) -> str:
    """The bucket key of a mandate's counts (an id a key cannot hold is hashed)."""
    if _KEY_SAFE.fullmatch(mandate_id):
        return PREFIX + mandate_id
    return PREFIX + "sha256-" + hashlib.sha256(mandate_id.encode()).hexdigest()


class CapStore:
    def __init__(self, kv: KeyValue, meter: CapMeter) -> None:
        self._kv = kv
        self._meter = meter
        self._wanted: dict[str, int] = {}  # mandate id -> version of its counts callers wait for
        self._waiting: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self._urgent: dict[str, asyncio.Event] = {}  # set: a caller waits, put at once

    async def load(self) -> int:
        """Put the stored counts into the meter; how many mandates had counts."""
        try:
            keys = [k for k in await self._kv.keys() if k.startswith(PREFIX)]
        except NoKeysError:
            return 0
        for key in keys:
            entry = await self._kv.get(key)
            if entry.value:
                found = msgspec.json.decode(entry.value)
                self._meter.restore(found["mandate_id"], found)
        return len(keys)

    def stored(self, chain: Iterable) -> asyncio.Future[Any]:
        """Done once the current counts of every capped mandate of `chain` are in the bucket (put at once)."""
        return asyncio.gather(*(self._mark(m.mandate_id, True) for m in chain if m.caps is not None))

    def counted(self, chain: Iterable) -> None:
        """Store the chain's counts within `LAZY_S`, nobody waiting."""
        for m in chain:
            if m.caps is not None:
                self._mark(m.mandate_id, False)

    async def flush(self) -> None:
        """Wait for every put under way (the gateway stops)."""
        await asyncio.gather(*self._writers.values(), return_exceptions=True)

    def _mark(self, mandate_id: str, wait: bool) -> asyncio.Future[None]:
        version = self._wanted[mandate_id] = self._wanted.get(mandate_id, 0) + 1
        done = asyncio.get_running_loop().create_future()
        urgent = self._urgent.setdefault(mandate_id, asyncio.Event())
        if wait:
            self._waiting.setdefault(mandate_id, []).append((version, done))
            urgent.set()
        else:
            done.set_result(None)
        if mandate_id not in self._writers:
            self._writers[mandate_id] = asyncio.create_task(self._write(mandate_id), name=f"caps-{mandate_id}")
        return done

    async def _write(self, mandate_id: str) -> None:
        stored = 0
        try:
            while stored < self._wanted[mandate_id]:
                urgent = self._urgent[mandate_id]
                if not urgent.is_set():  # let the calls of the next moment join this put
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(urgent.wait(), LAZY_S)
                urgent.clear()
                version = self._wanted[mandate_id]
                value = {"mandate_id": mandate_id, **self._meter.snapshot(mandate_id)}
                try:
                    await self._kv.put(key_of(mandate_id), msgspec.json.encode(value))
                except (NatsError, TimeoutError) as e:  # the call stands; only a restart would forget it
                    why = str(e) or type(e).__name__
                    log.error("cap counts not stored: a restarted gateway counts from those last stored",
                              mandate=mandate_id, error=why)  # fmt: skip
                stored = version
                self._release(mandate_id, stored)
        finally:  # nobody waits past the last put (nor past a cancelled writer)
            del self._writers[mandate_id]
            self._release(mandate_id, None)

    def _release(self, mandate_id: str, version: int | None) -> None:
        """Wake the callers whose counts are stored (all of them, `version` None: the writer ended)."""
        left = []
        for wanted, done in self._waiting.pop(mandate_id, []):
            if version is None or wanted <= version:
                if not done.done():
                    done.set_result(None)
            else:
                left.append((wanted, done))
        if left:
            self._waiting[mandate_id] = left
