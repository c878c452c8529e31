"""Leases in NATS KV: of several processes that could do one piece of work, one does it at a time.

Used for projectors: any number of `vsmesh up --hub ops-hub` may run; the one holding the lease
`projector.ops-hub` in the `vsmesh-leases` bucket projects, the others stand by. The holder renews
the entry every RENEW_S with a compare-and-set on its revision (`kv.update(last=…)`); the bucket's TTL
removes an entry nobody renews, and a standby's `kv.create` (which succeeds only on a missing key)
takes it over. A holder that cannot renew for LOSE_AFTER_S stops its work before the TTL can hand the
lease to someone else; a holder that stops cleanly deletes its entry, so a standby takes over at once.

The lease is for efficiency and clarity, not for correctness: a projector is idempotent by position
(advisory lock + position check in the same transaction as its rows, projectors/engine/batches.py), so even a
brief overlap of two holders would not apply an event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec
import structlog
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from vsmesh.bus.buckets import open_bucket

log = structlog.get_logger(__name__)

BUCKET = "vsmesh-leases"
TTL_S = 4.0  # an entry not renewed for this long is gone: its holder died or lost NATS
RENEW_S = 1.0  # holders renew, standbys try to acquire, this often
LOSE_AFTER_S = TTL_S * 0.75  # a holder that could not renew for this long stops, before the TTL runs out


class Share(Protocol):
    """A process's fair share of a set of leases (lease_share.LeaseShare, which builds on this module)."""

    async def refresh(self) -> None: ...
    async def leave(self) -> None: ...
    def take(self, name: str) -> bool: ...
    def drop(self, name: str) -> None: ...
    def must_release(self, name: str) -> bool: ...


class LeaseEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds a lease, as stored in the bucket."""

    holder: str
    host: str
    pid: int
    since: float  # unix time it was acquired


def lease_key(name: str) -> str:
    return f"projector.{name}"


def holder_id() -> str:
    """This process's identity in leases: host, pid and a random part (pids repeat across hosts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def lease_bucket(js: JetStreamContext, *, replicas: int = 1) -> KeyValue:
    """The lease bucket, created on first use (replicated like the streams, so a lease survives a node)."""
    config = KeyValueConfig(bucket=BUCKET, history=1, ttl=TTL_S, storage=StorageType.MEMORY, replicas=replicas)
    found = await open_bucket(js, config)
    assert found is not None  # made when missing
    return found


async def current_holder(kv: KeyValue, name: str, *, key: str | None = None) -> LeaseEntry | None:
    """Who holds the lease now (None: nobody); its key is `projector.<name>` unless `key` names another."""
    try:
        entry = await kv.get(key or lease_key(name))
    except NatsError:  # KeyNotFoundError / KeyDeletedError: nobody holds it
        return None
    if not entry.value:
        return None
    return msgspec.json.decode(entry.value, type=LeaseEntry)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; True when it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def run_leased(
    kv: KeyValue,
    name: str,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    *,
    holder: str | None = None,
    key: str | None = None,
    share: Share | None = None,
) -> None:
    """Run `work(stop_work)` whenever this process holds the lease `name`, until `stop` is set.

    The lease's key is `projector.<name>` unless `key` names another (a timed job's `job.<hub>.<name>`).
    With `share` (a hub's partitions, projectors/distribution/lease_share.py), the lease is tried only while this
    process holds less than its share of the hub's partitions, and handed over when it holds more.

    `work` must return soon after `stop_work` is set (it is set when the lease is lost or on stop).
    An exception from `work` releases the lease; a NATS error (NATS away a moment) is logged and the lease
    tried again, any other propagates.
    """
    holder = holder or holder_id()
    key = key or lease_key(name)
    bound = log.bind(lease=key, holder=holder)
    while not stop.is_set():
        if share is not None:
            await share.refresh()
            if not share.take(name):
                await _wait(stop, RENEW_S)
                continue
        entry = LeaseEntry(holder=holder, host=socket.gethostname(), pid=os.getpid(), since=time.time())
        value = msgspec.json.encode(entry)
        revision = await _acquire(kv, key, value, bound)
        if revision is None:
            if share is not None:
                share.drop(name)
            await _wait(stop, RENEW_S)
            continue
        bound.info("lease acquired", at=time.time())
        try:
            revision = await _hold(kv, key, value, revision, work, stop, bound, share, name)
        except (NatsError, TimeoutError) as e:
            # NATS away a moment (a stream leader killed, an election): the work stopped on it, the lease is
            # released; lead again once NATS answers. Before, this ended the task for good and the hub was
            # never projected again (tests/cluster/test_failover.py, 1 run in ~10).
            bound.warning("leased work stopped by NATS; trying again", error=str(e) or repr(e), at=time.time())
            await _wait(stop, RENEW_S)
            continue
        finally:
            if share is not None:
                share.drop(name)
        if revision is not None:
            # Stamped before the delete: whoever takes the lease over stamps its acquisition after it, so the
            # two log lines order as the hand-over did even when this process is slow to log.
            released_at = time.time()
            with contextlib.suppress(NatsError, TimeoutError, OSError):
                await kv.delete(key, last=revision)  # hand over at once
            bound.info("lease released", at=released_at)
    if share is not None:
        await share.leave()  # (once for all of the hub's partitions)


async def _acquire(kv: KeyValue, key: str, value: bytes, bound: structlog.typing.FilteringBoundLogger) -> int | None:
    """The new entry's revision, or None when someone else holds the lease (or NATS did not answer)."""
    try:
        return await kv.create(key, value)
    except KeyWrongLastSequenceError:
        return None  # someone else holds it
    except (NatsError, TimeoutError, OSError) as e:
        bound.warning("lease not acquired", error=str(e) or repr(e))
        return None


async def _hold(
    kv: KeyValue,
    key: str,
    value: bytes,
    revision: int,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    bound: structlog.typing.FilteringBoundLogger,
    share: Share | None = None,
    name: str = "",
) -> int | None:
    """Run the work while renewing; returns the last revision if we still hold the lease, else None."""
    stop_work = asyncio.Event()
    task = asyncio.create_task(work(stop_work), name=f"leased:{key}")
    renewed = time.monotonic()
    held: int | None = revision
    stopped = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set() and not task.done():
            await asyncio.wait({task, stopped}, timeout=RENEW_S, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() or task.done():
                break
            if share is not None:
                await share.refresh()
                if share.must_release(name):
                    bound.info("lease handed over: another process shares the partitions", at=time.time())
                    break
            try:
                # Bounded by what is left before LOSE_AFTER_S: unbounded, an unanswered renewal waited out
                # nats-py's 5 s request timeout first, and the work went on past the TTL (tests/projectors/
                # test_lease.py: stopped 6.0 s after NATS froze, against a 4 s TTL).
                left = max(LOSE_AFTER_S - (time.monotonic() - renewed), 0.05)
                held = await asyncio.wait_for(kv.update(key, value, last=held), left)
                renewed = time.monotonic()
            except KeyWrongLastSequenceError:
                bound.warning("lease lost: taken over", at=time.time())
                held = None
                break
            except (NatsError, TimeoutError, OSError) as e:
                if time.monotonic() - renewed > LOSE_AFTER_S:
                    bound.warning("lease lost: cannot renew", error=str(e) or repr(e), at=time.time())
                    held = None
                    break
    finally:
        stopped.cancel()
        stop_work.set()
        try:
            await task  # an error from the work propagates, after the lease is released
        except BaseException:
            if held is not None:
                with contextlib.suppress(NatsError, TimeoutError, OSError):
                    await kv.delete(key, last=held)
            raise
    return held
