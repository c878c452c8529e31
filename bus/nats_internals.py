"""Every reach into nats-py's private internals, in one place (issue 15).

Reaching into a library's internals is a last resort: each one here is kept only because it measurably
pays, and tests/bus/test_nats_internals.py fails, naming this module, when nats-py changes what it relies on.
pyproject.toml pins nats-py to the range those tests passed on.

The internals, why each exists, and what it measured (bench/rebuild.py --events 200000, every run listed
in the issue-15 report; ratio = rebuild ev/s / bare ordered-consumer read ev/s in the same run):

1. Direct delivery (`deliver_directly`, class `_Direct`): replaces a push subscription's
   `Subscription._pending_queue` with an object that hands each message to the reader's function as
   nats-py's reading loop builds it, and cancels `_wait_for_msgs_task`. nats-py otherwise puts every
   message in an asyncio.Queue that a task of its own drains into the callback: a put, a get, a task
   switch and a coroutine per message. Relies on `_pending_queue`, `_pending_size` and
   `_wait_for_msgs_task` of the subscription and on `JetStreamContext._JSI` reading the queue's `qsize()`
   for flow control. Measured: see DIRECT_DELIVERY_GAIN below.

2. The header parser (`MeshClient._parse_header_lines` in bus/connection.py takes `parse_header_lines`
   from here): see HEADER_PARSER_GAIN below.

What is NOT an internal any more: the publisher reached `JetStreamContext._nc` for its client (acks as
plain replies, the connection's permission denials). `MeshClient.jetstream()` now returns a
`MeshJetStream` that carries its client as a public attribute of ours, through nats-py's public
constructor; no speed was at stake there, only a private attribute.

`VSMESH_NATS_PUBLIC` (comma-separated names of INTERNALS, or `all`) switches internals off in favour of
nats-py's public path; it exists so bench/ can measure both, and is read once at import.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

log = structlog.get_logger(__name__)

DIRECT_DELIVERY = "direct_delivery"
HEADER_PARSER = "header_parser"
INTERNALS = (DIRECT_DELIVERY, HEADER_PARSER)

# Filled in from the measurements (bench/rebuild.py --events 200000 and bench/latency.py, two runs each).
DIRECT_DELIVERY_GAIN = "to be measured"
HEADER_PARSER_GAIN = "to be measured"


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


# --- 1. direct delivery ----------------------------------------------------------------------------------

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


# --- 2. the header parser --------------------------------------------------------------------------------


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """`Name: Value` lines as a dict, skipping names that are not ASCII or hold whitespace, as nats-py does."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep or not name.isascii():
            continue
        key = name.strip().decode()
        if key and key.split() != [key]:  # str.split() splits on exactly what str.isspace() calls space
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


def header_parser_in_use() -> Callable[[bytes], dict[str, str]]:
    """The parser MeshClient puts in place of nats-py's `Client._parse_header_lines`."""
    return parse_header_lines if enabled(HEADER_PARSER) else Client._parse_header_lines


# --- what the tests check of nats-py ---------------------------------------------------------------------


def missing_internals() -> list[str]:
    """What this module relies on that the installed nats-py no longer has, one line each (empty: all there)."""
    missing: list[str] = []
    init = inspect.getsource(Subscription.__init__)
    missing += [f"Subscription.{a} (set in __init__)" for a in SUBSCRIPTION_ATTRIBUTES if f"self.{a}" not in init]
    reading = inspect.getsource(Client._process_msg)
    if "sub._pending_queue.put_nowait(msg)" not in reading:
        missing.append("Client._process_msg handing messages to sub._pending_queue.put_nowait")
    wrapper = inspect.getsource(JetStreamContext._JSI)
    if "_pending_queue.qsize()" not in wrapper:
        missing.append("JetStreamContext._JSI flow control reading _pending_queue.qsize()")
    parser = inspect.getattr_static(Client, "_parse_header_lines", None)
    if not isinstance(parser, staticmethod) or list(inspect.signature(parser.__func__).parameters) != ["raw"]:
        missing.append("Client._parse_header_lines(raw) as a staticmethod")
    if "self._parse_header_lines(" not in inspect.getsource(Client._process_headers):
        missing.append("Client._process_headers calling self._parse_header_lines")
    return missing
