"""Every reach into nats-py's private internals, in one place.

Reaching into a library's internals is a last resort: each one here is kept only because it measurably
pays, and tests/bus/test_nats_internals.py fails, naming this module, when nats-py changes what it relies
on. pyproject.toml pins nats-py to the range those tests passed on (2.16.x). What each one was measured to
save, and what was removed after measuring, is in docs/performance.md §Reading.

Kept: direct delivery (`deliver_directly`, class `_Direct`). It replaces a JetStream push subscription's
`Subscription._pending_queue` with an object that hands each message to the reader as nats-py's reading
loop builds it, and cancels `_wait_for_msgs_task`. nats-py otherwise puts every message in an asyncio.Queue
that a task of its own drains into the callback: a put, a get, a task switch and a coroutine per message.
It relies on `_pending_queue`, `_pending_size` and `_wait_for_msgs_task` of the Subscription, on
`Client._process_msg` calling `_pending_queue.put_nowait`, and on `JetStreamContext._JSI` reading the
queue's `qsize()` for flow control. The reader spends less CPU per event with it; a rebuild's run-to-run
spread on a shared machine hides the difference (re-measure on a quiet one: bench/_compare_internals.py).
Kept for the read path and the live path; if a quiet rebuild run shows no gain either, remove it: the
reader's own callback (bus/reader.py) already does the same through nats-py's queue.

Removed after measuring:
  - The header parser override (`MeshClient._parse_header_lines`). nats-py 2.16 parses header lines
    bytewise itself (older versions went through the email parser); what ours saved on top of that was a
    few per cent of the read and did not show in a rebuild, so nats-py's own parser is used.
  - `JetStreamContext._nc` (the publisher's way to its client): `MeshClient.jetstream()` returns a
    `MeshJetStream` (bus/connection.py) built with nats-py's public constructor that keeps its client as
    an attribute of ours; a plain nats-py context still publishes, one event at a time. No speed was at
    stake for vsmesh's own clients, only a private attribute.

Kept: the fast parser (`fast_parse`, class `_FastParser`). nats-py's protocol parser runs, per message, a
regex on the front of its buffer and a `del` of it, a coroutine for `Client._process_msg` and another for
`_process_headers`, then the ordered consumer's checks: about a third of a rebuild's CPU
(docs/performance.md §Reading). Ours replaces `Client._ps` with a subclass of nats-py's Parser that walks a
buffer of HMSG lines by index and, for a message of an ordered push subscription delivered directly (the
readers', above) that is plain data in sequence, does what `_process_msg` does for it inline: the same
counters, the ordered consumer's sequence tracking, nats-py's own header-line parser, a Msg (`Delivered`,
which also carries the stream sequence it read; `missing_internals` checks Msg's fields), the same
hand-over. Everything else (status and flow-control messages, a sequence gap, other subscriptions, other
operations, a parser mid-message) goes through nats-py's own code, unchanged. It relies on the
source of `Parser.parse` and `Client._process_msg` being the reviewed one: `reviewed_sources` compares
their digests, and where they differ the stock parser is used (and the test names the function).

`VSMESH_NATS_PUBLIC` (comma-separated names of INTERNALS, or `all`) switches internals off in favour of
nats-py's public path; it exists so bench/_compare_internals.py and bench/_read_path.py can measure both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from nats.aio import client as nats_client
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ProtocolError
from nats.js import JetStreamContext
from nats.protocol.parser import AWAITING_CONTROL_LINE, HMSG_RE, MSG_RE, Parser

log = structlog.get_logger(__name__)

DIRECT_DELIVERY = "direct_delivery"
FAST_PARSE = "fast_parse"
INTERNALS = (DIRECT_DELIVERY, FAST_PARSE)


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

    def __init__(self, sub: Subscription, receive: Callable[[Msg], None], sourced_from: str | None = None) -> None:
        self._sub, self._receive = sub, receive
        # A split stream's reader's (bus/splits.py): the horizon stream the fast parser hands its messages on
        # as (Sourced), reading the origin from the header block it parses anyway.
        self.sourced_from = sourced_from

    def put_nowait(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)  # added just before, for nats-py's slow-consumer limit
        self.deliver(msg)

    def deliver(self, msg: Msg) -> None:
        """Hand a message to the reader (the fast parser's way in: it never adds to the pending size)."""
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


def deliver_directly(psub: Any, receive: Callable[[Msg], None], *, sourced_from: str | None = None) -> bool:
    """Have nats-py hand this push subscription's messages to `receive` as it reads them (see _Direct).

    The subscription must have been made with a callback that does the same as `receive`: where nats-py's
    internals are not as expected, or the internal is switched off, it keeps its queue and that callback
    (same messages, same order, slower) and this returns False. With `sourced_from` (a split stream's
    reader: the horizon stream), the fast parser hands on the messages it reads as `Sourced` already; the
    others still reach `receive` as they are.
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
    inner._pending_queue = psub._pending_queue = _Direct(inner, receive, sourced_from)
    if inner._wait_for_msgs_task is not None:
        inner._wait_for_msgs_task.cancel()  # it only ever waited on the old queue
    return True


def delivers_directly(psub: Any) -> bool:
    """True when this push subscription's messages bypass nats-py's queue (deliver_directly took)."""
    inner = inner_subscription(psub)
    return inner is not None and isinstance(getattr(inner, "_pending_queue", None), _Direct)


# --- the fast parser ---------------------------------------------------------------------------------------

# The digests of the nats-py functions the fast parser stands in for, as reviewed (nats-py 2.16.0). A changed
# function may change what a message means (a new control message, a new counter): then the stock parser.
REVIEWED = {
    "Parser.parse": "7d6165f1766cccd1",
    "Client._process_msg": "6cff75947e97717a",
}

# nats-py's own patterns for MSG and HMSG lines, matched at a position (`match(buf, pos)`) rather than at the
# front of a buffer cut after every message: the same lines are messages to both parsers.
_HMSG, _MSG = (re.compile(r.pattern.removeprefix(b"\\A")) for r in (HMSG_RE, MSG_RE))
_PLAIN_HEADERS = b"NATS/1.0\r\n"  # a status line would follow "NATS/1.0" with a space
_ACK_TOKENS = 9  # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>


def _digest(fn: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]


@functools.cache
def changed_sources() -> tuple[str, ...]:
    """The nats-py functions whose source is not the one the fast parser was reviewed against."""
    found = {"Parser.parse": _digest(Parser.parse), "Client._process_msg": _digest(Client._process_msg)}
    return tuple(name for name, digest in found.items() if REVIEWED[name] != digest)


def parser_for(nc: Client) -> Parser:
    """The protocol parser for a new client: the fast one when it is switched on and nats-py is as reviewed."""
    if not enabled(FAST_PARSE) or nats_client.parse_email is not None:
        return Parser(nc)  # (with fast_mail_parser installed, nats-py parses headers another way)
    if changed_sources():
        log.warning("nats-py's parser changed: reading with it (slower)", changed=list(changed_sources()))
        return Parser(nc)
    return _FastParser(nc)


_SUBJECTS_KEPT = 100_000  # subjects whose string the fast parser keeps (then it starts again)
_MSG_ID = b"Nats-Msg-Id: "
SOURCE_HEADER = "Nats-Stream-Source"  # where a sourced message came from (the server adds it)
_SOURCE = SOURCE_HEADER.encode() + b": "


def _header_lines(nc: Client, buf: bytes | bytearray, start: int, end: int) -> dict[str, str] | None:
    """nats-py's reading of the plain header block `buf[start:end]`: its own parser, but for a block of only
    the event's id (every stored event's), or of it and where a split stream sourced it from (bus/splits.py),
    each once, read in place as that parser reads them (in less than half its time for an id alone, a tenth
    for the two; docs/performance.md §Reading). nats-py's parser spends most of its time checking names."""
    last = end - 4  # the block ends with an empty line
    if buf.startswith(_MSG_ID, start) and buf.find(b"\r\n", start, end) == last:
        value = buf[start + 13 : last]
        if value.isascii():
            return {"Nats-Msg-Id": value.strip().decode()}
    out: dict[str, str] = {}
    at = start
    while True:
        if buf.startswith(_MSG_ID, at):
            prefix, name = _MSG_ID, "Nats-Msg-Id"
        elif buf.startswith(_SOURCE, at):
            prefix, name = _SOURCE, "Nats-Stream-Source"
        else:
            break
        line_end = buf.find(b"\r\n", at, end)
        value = buf[at + len(prefix) : line_end]
        if line_end < 0 or line_end > last or name in out or not value.isascii():
            break
        out[name] = value.strip().decode()
        if line_end == last:
            return out
        at = line_end + 2
    return nc._parse_header_lines(bytes(buf[start:end])) or None


def _split_block(buf: bytes | bytearray, start: int, end: int) -> tuple[str, int, bytes] | None:
    """The event id, horizon sequence and horizon subject (undecoded) of a split stream's header block `buf[start:end]`
    that is exactly `Nats-Msg-Id` then `Nats-Stream-Source` (`<stream> <seq> <filter> <transform> <subject>
    <hash>`, bus/splits.py); None for any other block. Read in place, without the dict of both headers and
    the split of the source value that `bus/splits.origin` does on it afterwards (a partition's largest own
    cost, docs/performance.md §Partitions)."""
    last = end - 4  # the block ends with an empty line
    id_end = buf.find(b"\r\n", start, last)
    if id_end < 0 or not buf.startswith(_SOURCE, id_end + 2) or not buf.startswith(_MSG_ID, start):
        return None
    # One split of the source value, its line's tokens checked (a third header would add one or end the last).
    source = buf[id_end + 2 + len(_SOURCE) : last].split(b" ")
    if len(source) != 6 or not source[1].isdigit() or b"\r" in source[5]:
        return None
    # Decoded as nats-py decodes header values (the subject by the caller, once per subject).
    msg_id = buf[start + 13 : id_end].strip().decode("utf-8", "replace")
    return msg_id, int(source[1]), source[4]


class Delivered(Msg):
    """A message the fast parser delivered: nats-py's Msg, with the stream sequence its reply names (`seq`),
    read once here rather than again by every step of a rebuild (bus/reader.stream_sequence)."""

    seq: int


_new = object.__new__
MSG_FIELDS = frozenset({"_client", "subject", "reply", "data", "headers", "_metadata", "_ackd", "_sid"})


def _delivered(
    nc: Client, sid: int, subject: str, reply: str, data: bytes, headers: Any, seq: int, kind: type = Delivered
) -> Any:
    """A Delivered (or `kind`) as Msg's own __init__ would make it, in a third of its time: the Msg was the
    largest single cost of the parser in a rebuild (docs/performance.md §Reading)."""
    msg = _new(kind)
    msg._client = nc
    msg.subject = subject
    msg.reply = reply
    msg.data = data
    msg.headers = headers
    msg._metadata = None
    msg._ackd = False
    msg._sid = sid
    msg.seq = seq
    return msg


class Sourced(Delivered):
    """A message read from a split stream (bus/splits.py) as its horizon stream stored it: its subject, `seq`,
    headers (the split's `Nats-Stream-Source` left out) and metadata's stream and stream sequence are the
    horizon stream's. The reply stays the split stream's consumer's, and so does the metadata's
    `num_pending` (what the partition has left to read) and `split_seq`."""

    origin: str

    @property
    def split_seq(self) -> int:
        """The split stream's sequence of this message (its reply names it)."""
        reply = self.reply
        if reply.count(".") == _ACK_TOKENS - 1:
            return int(reply.rsplit(".", 4)[1])
        return Msg.metadata.fget(self).sequence.stream  # type: ignore[attr-defined] - another reply form

    @property
    def metadata(self) -> Msg.Metadata:
        found = self._metadata
        if found is None:
            read = Msg.metadata.fget(self)  # type: ignore[attr-defined] - nats-py's parse of the reply
            pair = Msg.Metadata.SequencePair(consumer=read.sequence.consumer, stream=self.seq)
            found = self._metadata = dataclasses.replace(read, stream=self.origin, sequence=pair)
        return found


def sourced(msg: Msg, origin: str, subject: str, seq: int) -> Sourced:
    """`msg` (from a split stream's consumer) as horizon stream `origin` stored it: at `seq`, on `subject`. A
    message the fast parser made becomes one in place (no copy per event); any other is copied."""
    if type(msg) is Delivered:
        msg.__class__ = Sourced
        out: Sourced = msg  # type: ignore[assignment]
    else:
        out = _new(Sourced)
        out.__dict__.update(msg.__dict__)
    out.subject, out.seq, out.origin, out._metadata = subject, seq, origin, None
    if out.headers:
        out.headers = {k: v for k, v in out.headers.items() if k != SOURCE_HEADER} or None
    return out


def _sourced(
    nc: Client, sid: int, origin: str, subject: str, reply: str, data: bytes, msg_id: str, seq: int
) -> Sourced:
    """A Sourced as `sourced` would make it of the fast parser's Delivered, made at once."""
    msg: Sourced = _delivered(nc, sid, subject, reply, data, {"Nats-Msg-Id": msg_id}, seq, Sourced)
    msg.origin = origin
    return msg


class _FastParser(Parser):
    """nats-py's parser with a fast path for the data messages of directly delivered ordered consumers.

    It walks what arrived as one immutable `bytes` (what was left of the last read, then this read) rather
    than nats-py's bytearray: a message's payload is then one slice, not a slice copied again into bytes, and
    searching bytes costs less than searching a bytearray (docs/performance.md §Reading). `self.buf` holds
    only what is left over (a message not all here yet), as nats-py's parser keeps it between reads.
    """

    def __init__(self, nc: Client) -> None:
        super().__init__(nc)
        # Each subject's string, made once: a hub's events repeat a few thousand subjects, and one string each
        # is less to hold than one per message (12 MB of a rebuild's peak; docs/performance.md §Rebuild).
        self._subjects: dict[bytes, str] = {}

    async def parse(self, data: bytes = b"") -> None:
        if self.state != AWAITING_CONTROL_LINE:
            self.buf.extend(data)
            await Parser.parse(self)  # a message nats-py's parser began (it never does here): it finishes
            return
        buf = self.buf
        if buf:
            data = bytes(buf) + data
            buf.clear()
        elif type(data) is not bytes:
            data = bytes(data)  # (a transport that hands over another buffer type: payloads are bytes)
        try:
            await self._parse(data)
        except ValueError as e:  # a sid or size that is no number, as nats-py says it
            raise ProtocolError("nats: malformed MSG") from e

    async def _parse(self, chunk: bytes) -> None:
        held, pos, size = self.buf, 0, len(chunk)
        while pos < size:
            if chunk.startswith(b"HMSG ", pos):
                # The usual line, `HMSG subject sid reply hlen size`, split rather than matched: the regex
                # was a fifth of the parser's time in a rebuild, and a split costs about two thirds of it
                # (docs/performance.md §Reading). Any other form goes through the regex below. The line's
                # end is found by its `\n` (a one-byte search), its `\r` checked.
                line_end = chunk.find(b"\n", pos) - 1
                if line_end < 0:
                    break  # not all here yet
                tokens = chunk[pos + 5 : line_end].split()
                if len(tokens) == 5 and chunk[line_end] == 13:
                    payload_at = line_end + 2
                    end = payload_at + int(tokens[4])
                    if end + 2 > size:
                        break
                    subject, sid, reply, hlen = tokens[0], int(tokens[1]), tokens[2], int(tokens[3])
                    pos = end + 2
                    if not self._deliver(subject, sid, reply, hlen, chunk, payload_at, end):
                        await self._stock_msg(chunk, subject, sid, reply, hlen, payload_at, end)
                        if self.buf is not held:
                            return  # reset by a reconnect meanwhile: what is left here is stale
                    continue
            m = _HMSG.match(chunk, pos) or _MSG.match(chunk, pos)
            if m is None:  # another operation (PING, INFO, -ERR …): nats-py's parser reads that one line
                line_end = chunk.find(b"\r\n", pos)
                if line_end < 0:
                    break  # not all here yet
                line = chunk[pos : line_end + 2]
                pos = line_end + 2
                if not await self._stock_line(line):
                    return
                continue
            headed = m.re is _HMSG
            payload_at = m.end()
            end = payload_at + int(m[6] if headed else m[5])
            if end + 2 > size:
                break  # the rest arrives with the next read; the line is matched again then
            subject, sid, reply, hlen = m[1], int(m[2]), m[4] or b"", int(m[5]) if headed else 0
            pos = end + 2
            if headed and reply and self._deliver(subject, sid, reply, hlen, chunk, payload_at, end):
                continue
            await self._stock_msg(chunk, subject, sid, reply, hlen, payload_at, end)
            if self.buf is not held:
                return
        held += chunk[pos:]  # (nothing awaited since the check above: still the parser's buffer)

    async def _stock_msg(
        self, chunk: bytes, subject: bytes, sid: int, reply: bytes, hlen: int, payload_at: int, end: int
    ) -> None:
        """nats-py's own path for one message, handed over as its parser does (a reconnect while it awaits
        resets `self.buf`: the caller stops then)."""
        headers = chunk[payload_at : payload_at + hlen] if hlen else None
        payload = chunk[payload_at + hlen : end]
        await self.nc._process_msg(sid, subject, reply, payload, headers)

    async def _stock_line(self, line: bytes) -> bool:
        """Have nats-py's parser read one control line (no payload follows it); False when a reconnect reset
        the parser meanwhile (what is left of the read is stale then)."""
        held = self.buf
        self.buf = alone = bytearray(line)
        try:
            await Parser.parse(self)
        finally:
            if self.buf is alone:  # (not reset by a reconnect meanwhile)
                self.buf = held
        return self.buf is held

    def _subject(self, raw: bytes, errors: str = "strict") -> str:
        """The subject's string, made once (see __init__)."""
        name = self._subjects.get(raw)
        if name is None:
            if len(self._subjects) >= _SUBJECTS_KEPT:
                self._subjects.clear()
            name = self._subjects[raw] = raw.decode("utf-8", errors)
        return name

    def _deliver(
        self, subject: bytes, sid: int, reply: bytes, hlen: int, buf: bytes, payload_at: int, end: int
    ) -> bool:
        """Hand over a plain data message in sequence as Client._process_msg would; False: leave it to nats-py."""
        nc = self.nc
        sub = nc._subs.get(sid)
        if sub is None or sub._jsi is None or not sub._jsi._ordered or sub._max_msgs or sub._future:
            return False
        if nc.msg_class is not Msg:
            return False  # a client that makes its own kind of message gets it from nats-py
        queue = sub._pending_queue
        if type(queue) is not _Direct:
            return False
        at = payload_at + hlen
        if at >= end or not buf.startswith(_PLAIN_HEADERS, payload_at):
            return False  # no data (a control message has none) or a status line
        reply = reply.decode()
        tokens = reply.split(".")
        jsi = sub._jsi
        if len(tokens) != _ACK_TOKENS or tokens[0] != "$JS" or tokens[1] != "ACK" or int(tokens[6]) != jsi._dseq:
            return False  # another reply form, or a gap: nats-py resets the ordered consumer
        payload = buf[at:end]
        if 0 < sub._pending_bytes_limit <= len(payload):
            return False  # nats-py reports it as a slow consumer
        stats = nc.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(payload)
        sub._received += 1
        jsi._active = True
        jsi._dseq += 1
        jsi._sseq = seq = int(tokens[5])
        origin = queue.sourced_from
        split = _split_block(buf, payload_at + 10, at) if origin is not None else None
        if split is not None:
            name = self._subject(split[2], "replace")  # (as nats-py decodes a header value)
            msg: Delivered = _sourced(nc, sid, origin, name, reply, payload, split[0], split[1])  # type: ignore[arg-type]
        else:
            # Inline, the common case of `_header_lines` (a block of the event's id alone) and of `_subject`
            # (a subject seen before): a function call each is a few per cent of a rebuild's read.
            start, last = payload_at + 10, at - 4
            value = buf[start + 13 : last] if buf.startswith(_MSG_ID, start) else b""
            if value and value.isascii() and buf.find(b"\r\n", start, at) == last:
                headers = {"Nats-Msg-Id": value.strip().decode()}
            else:
                headers = _header_lines(nc, buf, start, at)
            name = self._subjects.get(subject) or self._subject(subject)
            msg = _delivered(nc, sid, name, reply, payload, headers, seq)
        try:
            queue._receive(msg)  # (_Direct.deliver, inline)
        except Exception as e:  # noqa: BLE001 - nats-py's reading loop must go on, as with a callback
            log.error("a delivered message could not be queued", subject=msg.subject, error=repr(e))
        jsi._fciseq += 1  # JetStreamContext._JSI.track_sequences
        jsi._cmeta = reply
        return True


# --- what the tests check of nats-py ---------------------------------------------------------------------


def _nats_source() -> str:
    """All of the installed nats-py's Python source, to see what it calls on a subscription's queue."""
    root = Path(inspect.getfile(Client)).parents[1]
    return "".join(path.read_text(encoding="utf-8") for path in sorted(root.rglob("*.py")))


def missing_internals() -> list[str]:
    """What this module relies on that the installed nats-py no longer has, one line each (empty: all there)."""
    missing: list[str] = [
        f"{name} (its source differs from the one the fast parser mirrors)" for name in changed_sources()
    ]
    init = inspect.getsource(Subscription.__init__)
    missing += [f"Subscription.{a} (set in __init__)" for a in SUBSCRIPTION_ATTRIBUTES if f"self.{a}" not in init]
    made = {f.name for f in dataclasses.fields(Msg)}
    if made != MSG_FIELDS:
        missing.append(f"Msg with the fields {sorted(MSG_FIELDS)} (now {sorted(made)}): _delivered sets those")
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
