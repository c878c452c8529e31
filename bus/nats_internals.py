"""Every reach into nats-py's private internals, in one place (issue 15).

Reaching into a library's internals is a last resort: each one here is kept only because it measurably
pays, and tests/bus/test_nats_internals.py fails, naming this module, when nats-py changes what it relies
on. pyproject.toml pins nats-py to the range those tests passed on (2.16.x).

Kept: direct delivery (`deliver_directly`, class `_Direct`). It replaces a JetStream push subscription's
`Subscription._pending_queue` with an object that hands each message to the reader as nats-py's reading
loop builds it, and cancels `_wait_for_msgs_task`. nats-py otherwise puts every message in an asyncio.Queue
that a task of its own drains into the callback: a put, a get, a task switch and a coroutine per message.
It relies on `_pending_queue`, `_pending_size` and `_wait_for_msgs_task` of the Subscription, on
`Client._process_msg` calling `_pending_queue.put_nowait`, and on `JetStreamContext._JSI` reading the
queue's `qsize()` for flow control. Measured (2 cores shared with other engineers' test runs, load 5-9;
every run is in the issue-15 report):
  - the read path it changes, bench/_read_path.py --paired --events 50000 --rounds 15 (StreamReader
    CPU per event, switched off minus on in the same round), two runs: +2.25 µs (14 of 15 rounds) and
    +0.92 µs (11 of 15) on ~15-17 µs: the reader spends 6-13% less CPU per event with it;
  - bench/rebuild.py --events 200000, rebuild CPU µs/event: with it 27.9, 32.0, 26.2, 28.9, 26.5
    (median 27.9); without 27.1, 25.9, 27.4, 23.0, 27.6 (median 27.1): the rebuild, ~27 µs per event
    with a ±20% spread here, does not show it (in the first three pairs the header override was in use
    on both sides); re-measure on a quiet machine (bench/_compare_internals.py);
  - bench/latency.py p99 (ms): with it 100, 7849, 291, 88; without 321, 1015, 3319, 1814 (3 of 4 pairs
    lower with it; every figure dominated by the machine's load).
Kept for the read path and the live path; if a quiet rebuild run shows no gain either, remove it: the
reader's own callback (bus/reader.py) already does the same through nats-py's queue.

Removed after measuring:
  - The header parser override (`MeshClient._parse_header_lines`). nats-py 2.16 parses header lines
    bytewise itself (older versions went through the email parser, "a fifth of the client's time per
    message" then); ours saved 0.3 µs per call (1.44 -> 1.13 µs, timeit on an event's header block) and
    +0.88 / +0.43 µs per event in the paired read-path runs above (10 of 15 rounds each, 2-5% of the read),
    1-3% of a rebuild's CPU per event: not measurable in bench/rebuild.py (with it 27.9, 32.0, 26.2;
    without 30.8, 22.7, 25.6 µs/event), so nats-py's own parser is used.
  - `JetStreamContext._nc` (the publisher's way to its client): `MeshClient.jetstream()` returns a
    `MeshJetStream` (bus/connection.py) built with nats-py's public constructor that keeps its client as
    an attribute of ours; a plain nats-py context still publishes, one event at a time. No speed was at
    stake for vsmesh's own clients, only a private attribute.

`VSMESH_NATS_PUBLIC` (comma-separated names of INTERNALS, or `all`) switches internals off in favour of
nats-py's public path; it exists so bench/_compare_internals.py and bench/_read_path.py can measure both.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

log = structlog.get_logger(__name__)

DIRECT_DELIVERY = "direct_delivery"
INTERNALS = (DIRECT_DELIVERY,)


def public_only(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The internals `VSMESH_NATS_PUBLIC` switches off; a name that is not one is a one-line error."""
    raw = (os.environ if environ is None else environ).get("VSMESH_NATS_PUBLIC", "")
    names = {n.strip() for n in raw.split(",") if n.strip()}
    if "all" in names:
        return frozenset(INTERNALS)
    unknown = names - set(INTERNALS)
    if unknown:
        raise ValueError(
            f"VSMESH_NATS_PUBLIC names unknown internals {sorted(unknown)}: use 'all' or some of {list(INTERNALS)}"
        )
    return frozenset(names)


PUBLIC_ONLY = public_only()


def enabled(name: str) -> bool:
    """True when internal `name` is in use (not switched off by VSMESH_NATS_PUBLIC)."""
    return name not in PUBLIC_ONLY


# --- direct delivery -------------------------------------------------------------------------------------

# What deliver_directly touches on nats-py's Subscription (set in its __init__).
SUBSCRIPTION_ATTRIBUTES = ("_pending_queue", "_pending_size", "_wait_for_msgs_task")


class _Direct:
    """Stands in for a nats-py subscription's pending queue: each message goes straight to `receive`.

    Only what nats-py calls on a callback subscription's queue: put_nowait (its reading loop), qsize
    (flow control: delivered = received - qsize), empty/task_done/join (unsubscribe, drain), get.
    nats-py's flow control already counts a message delivered when it arrives, so nothing changes there;
    the reader's pause bounds memory (bus/reader.py).
    """

    def __init__(self, sub: Subscription, receive: Callable[[Msg], None]) -> None:
        self._sub, self._receive = sub, receive

    def put_nowait(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)  # added just before, for nats-py's slow-consumer limit
        try:
            self._receive(msg)
        except Exception as e:  # noqa: BLE001 - nats-py's reading loop must go on, as with a callback
            log.error("a delivered message could not be queued", subject=msg.subject, error=repr(e))

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        pass

    async def get(self) -> Msg:
        return await asyncio.get_running_loop().create_future()  # nothing is ever queued here


def inner_subscription(psub: Any) -> Subscription | None:
    """The nats-py Subscription a JetStream push subscription wraps (its reader delivers to that one)."""
    inner = getattr(psub, "_sub", None)
    return inner if isinstance(inner, Subscription) else None


def deliver_directly(psub: Any, receive: Callable[[Msg], None]) -> bool:
    """Have nats-py hand this push subscription's messages to `receive` as it reads them (see _Direct).

    The subscription must have been made with a callback that does the same as `receive`: where nats-py's
    internals are not as expected, or the internal is switched off, it keeps its queue and that callback
    (same messages, same order, slower) and this returns False.
    """
    if not enabled(DIRECT_DELIVERY):
        return False
    inner = inner_subscription(psub)
    if inner is None or not all(hasattr(inner, name) for name in SUBSCRIPTION_ATTRIBUTES):
        log.warning("nats-py's subscription internals changed: reading through its queue (slower)")
        return False
    old = inner._pending_queue
    while not old.empty():  # arrived while the consumer was created: they come first
        msg = old.get_nowait()
        inner._pending_size -= len(msg.data)
        receive(msg)
    inner._pending_queue = psub._pending_queue = _Direct(inner, receive)
    if inner._wait_for_msgs_task is not None:
        inner._wait_for_msgs_task.cancel()  # it only ever waited on the old queue
    return True


def delivers_directly(psub: Any) -> bool:
    """True when this push subscription's messages bypass nats-py's queue (deliver_directly took)."""
    inner = inner_subscription(psub)
    return inner is not None and isinstance(getattr(inner, "_pending_queue", None), _Direct)


# --- what the tests check of nats-py ---------------------------------------------------------------------


def _nats_source() -> str:
    """All of the installed nats-py's Python source, to see what it calls on a subscription's queue."""
    root = Path(inspect.getfile(Client)).parents[1]
    return "".join(path.read_text(encoding="utf-8") for path in sorted(root.rglob("*.py")))


def missing_internals() -> list[str]:
    """What this module relies on that the installed nats-py no longer has, one line each (empty: all there)."""
    missing: list[str] = []
    init = inspect.getsource(Subscription.__init__)
    missing += [f"Subscription.{a} (set in __init__)" for a in SUBSCRIPTION_ATTRIBUTES if f"self.{a}" not in init]
    reading = inspect.getsource(Client._process_msg)
    if "sub._pending_queue.put_nowait(msg)" not in reading:
        missing.append("Client._process_msg handing messages to sub._pending_queue.put_nowait")
    called = set(re.findall(r"_pending_queue\.([a-z_]+)", _nats_source()))
    missing += [
        f"_Direct.{name} (nats-py now calls _pending_queue.{name})"
        for name in sorted(called)
        if not hasattr(_Direct, name)
    ]
    wrapper = inspect.getsource(JetStreamContext._JSI)
    if "_pending_queue.qsize()" not in wrapper:
        missing.append("JetStreamContext._JSI flow control reading _pending_queue.qsize()")
    return missing
