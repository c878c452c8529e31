"""Reading a few stored messages by subject without a consumer: JetStream's batched direct get.

A scoped revert reads one entity's messages from each of a hub's streams (projectors/reverts/scoped.py). An
ordered consumer costs a create, an info and a delete per read; a batched direct get
(`$JS.API.DIRECT.GET.<stream>` with `next_by_subj` and `batch`, server 2.11+, ADR-31) is one request whose
answers end with a `204 EOB` status, several times faster for the few messages a revert reads
(docs/performance.md §Reading).

Direct gets may be answered by any replica, and a follower can lag the leader (no read-after-write
coherence, ADR-31): a replicated stream is read by an ordered consumer instead, which the leader serves.
A server that answers no batch (older than 2.11: no `Nats-Num-Pending` header) is read by consumer too.
"""

from __future__ import annotations

import asyncio
import weakref

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.streams import stream_info

PAGE = 1000  # messages per direct-get request; a longer history is read page by page
_TIMEOUT_S = 5.0
_replicas: weakref.WeakKeyDictionary[Client, dict[str, int]] = weakref.WeakKeyDictionary()


class _NoBatch(Exception):
    """The server cannot answer a batched direct get: read with a consumer."""


async def read_stored(js: JetStreamContext, stream: str, subject: str, after: int, last: int) -> list[Msg]:
    """The stored messages on `subject` (wildcards allowed) with stream sequences in (after, last], in order.

    Their `subject` is the stored subject and `stream_sequence` reads their sequence, as for a consumer's."""
    if last <= after:
        return []
    client = getattr(js, "client", None)  # vsmesh's own contexts keep it (bus/connection.py)
    if client is not None and await _single_replica(js, client, stream):
        try:
            return await _direct(client, stream, subject, after, last)
        except _NoBatch:
            pass
    return await _consumed(js, stream, subject, after, last)


async def _single_replica(js: JetStreamContext, client: Client, stream: str) -> bool:
    known = _replicas.setdefault(client, {})
    if stream not in known:
        known[stream] = (await stream_info(js, stream)).config.num_replicas or 1
    return known[stream] == 1


async def _direct(client: Client, stream: str, subject: str, after: int, last: int) -> list[Msg]:
    out: list[Msg] = []
    while True:
        page, pending = await _page(client, stream, subject, after)
        for msg in page:
            if stream_sequence(msg) > last:
                return out
            out.append(msg)
        if not page or not pending:
            return out
        after = stream_sequence(page[-1])


async def _page(client: Client, stream: str, subject: str, after: int) -> tuple[list[Msg], int]:
    """One batch from sequence `after + 1` on: its messages, and how many more match after them."""
    got: list[Msg] = []
    end: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()

    async def receive(msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is not None:
            if not end.done():
                end.set_result((status, int(headers.get("Nats-Num-Pending", 0))))
            return
        if "Nats-Num-Pending" not in headers:
            if not end.done():
                end.set_exception(_NoBatch())
            return
        got.append(Msg(client, subject=headers["Nats-Subject"], data=msg.data, headers=headers))

    inbox = client.new_inbox()
    sub = await client.subscribe(inbox, cb=receive)
    try:
        request = msgspec.json.encode({"seq": after + 1, "next_by_subj": subject, "batch": PAGE})
        await client.publish(f"$JS.API.DIRECT.GET.{stream}", request, reply=inbox)
        try:
            status, pending = await asyncio.wait_for(end, _TIMEOUT_S)
        except TimeoutError as e:
            raise TimeoutError(f"no answer from {stream}'s direct get in {_TIMEOUT_S:.0f} s: is it running?") from e
    finally:
        await sub.unsubscribe()
    if status == "404":
        return [], 0  # nothing matches past `after`
    if status != "204":
        raise _NoBatch()  # 503 (no responders: direct gets not allowed) or a refusal: a consumer reads it
    return got, pending


async def _consumed(js: JetStreamContext, stream: str, subject: str, after: int, last: int) -> list[Msg]:
    out: list[Msg] = []
    async with StreamReader(js, stream, subject, Start(after_seq=after) if after else Start()) as reader:
        async for batch in reader.drain_to_head(PAGE, stop=lambda m: stream_sequence(m) > last):
            out += batch
    return out
