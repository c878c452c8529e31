"""Pipelined publishing with our own acknowledgement tracking.

nats-py's `publish_async` pays, per message, a semaphore, a future, a `json.loads` and a dataclass
built by reflection; at tens of thousands of events a second that is most of the cost. Here acks
land on one inbox subscription, are decoded with msgspec, and fill a result slot by index.
"""

from __future__ import annotations

import asyncio

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

NO_RESPONDERS = "503"


class _Ack(msgspec.Struct):
    stream: str | None = None
    seq: int = 0
    duplicate: bool = False
    error: dict | None = None


_ack_decoder = msgspec.json.Decoder(_Ack)


class AckPipeline:
    """Sends messages with a reply inbox each and collects their JetStream acks, at most `window` open."""

    def __init__(self, nc: Client, window: int, quiet: float = 5.0) -> None:
        self._nc = nc
        self._window = window
        self._quiet = quiet
        self._inbox = nc.new_inbox()
        self._acks: dict[int, _Ack | Exception] = {}
        # Indices, not a count: an ack that arrives after its index was given up must not open room twice.
        self._open: set[int] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._sub = None

    async def __aenter__(self) -> AckPipeline:
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_ack, pending_msgs_limit=-1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_ack(self, msg: Msg) -> None:
        index = int(msg.subject[len(self._inbox) + 1 :])
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            self._acks[index] = ConnectionError("no stream answers this subject")
        else:
            try:
                self._acks[index] = _ack_decoder.decode(msg.data)
            except msgspec.DecodeError as e:
                self._acks[index] = e
        self._open.discard(index)
        self._update_events()

    def _update_events(self) -> None:
        if len(self._open) <= self._window // 2:
            self._room.set()
        if not self._open:
            self._idle.set()

    async def send(self, index: int, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Send one message; waits while `window` acks are outstanding (back-pressure)."""
        if len(self._open) >= self._window:
            self._room.clear()
            await self._until(self._room)
        self._open.add(index)
        self._idle.clear()
        await self._nc.publish(subject, payload, reply=f"{self._inbox}.{index}", headers=headers)

    async def wait(self) -> dict[int, _Ack | Exception]:
        """All acks received so far, once none is outstanding or none arrived for `quiet` seconds."""
        await self._until(self._idle)
        return self._acks

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event`; when no ack arrives for `quiet` seconds, give the open ones up.

        Acks lost in a disconnect never come: the caller resends whatever has none (same id, stored once).
        """
        while not event.is_set():
            before = len(self._acks)
            try:
                await asyncio.wait_for(event.wait(), self._quiet)
            except TimeoutError:
                if len(self._acks) == before:
                    self._open.clear()
                    self._update_events()
