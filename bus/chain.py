"""The tamper-evident constitutional record: every event on CONSTITUTIONAL is a link of a hash chain.

Each stored message carries two headers: `Vsmesh-Chain-Prev`, the chain hash of the message before it,
and `Vsmesh-Chain-Hash` = sha-256(prev hash bytes + the message's stored bytes). A message is appended
with `Nats-Expected-Last-Sequence` set to the head it links to, so two writers cannot fork the chain:
the second is refused by the server, reads the new head and links to that (constitutional events are
rare; serialising them costs nothing measurable).

`walk` recomputes the chain from the stream and names the first message that breaks it: altered (its
bytes no longer give its hash), missing (it links to a hash no message has), reordered (it links to an
earlier message than the one before it) or inserted (no link at all after the chain began). Someone with
admin rights can still rewrite the whole chain consistently; signed checkpoints (`chain-checkpointed`,
`vsmesh verify --sign`), the heads the mesh remembers signing (runtime/signed_heads.py) and an exported
head kept outside the mesh are what catch that.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import InvalidEvent

CHAINED_STREAM = "CONSTITUTIONAL"
PREV = "Vsmesh-Chain-Prev"
HASH = "Vsmesh-Chain-Hash"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
GENESIS = "0" * 64  # what the first chained message links to
CHECKPOINT_TYPE = "chain-checkpointed"


def link(prev: str, payload: bytes) -> str:
    """The chain hash of a message stored after the message whose chain hash is `prev`."""
    return hashlib.sha256(bytes.fromhex(prev) + payload).hexdigest()


@dataclass(frozen=True)
class Head:
    """The stream's last message: its sequence (0: empty) and its chain hash."""

    seq: int
    hash: str


async def head(js: JetStreamContext, stream: str = CHAINED_STREAM) -> Head:
    """The chain's head; an empty stream (or one whose last message predates the chain) starts it.

    Read as the stream's last message on any subject (`$JS.API.STREAM.MSG.GET`, which a hub's service user
    may do), not through stream info (which it may not).
    """
    try:
        msg = await js.get_last_msg(stream, f"{stream.lower()}.>")
    except NotFoundError:
        return Head(0, GENESIS)
    return Head(msg.seq or 0, (msg.headers or {}).get(HASH) or GENESIS)


def chained_headers(headers: dict[str, str], at: Head, payload: bytes) -> dict[str, str]:
    """`headers` plus the link to `at` and the expectation that `at` is still the stream's last message."""
    return {**headers, PREV: at.hash, HASH: link(at.hash, payload), EXPECTED_LAST_SEQ: str(at.seq)}


def is_fork(error: APIError) -> bool:
    """The server refused an append because another writer moved the head first."""
    return error.err_code == 10071


@dataclass
class Walk:
    """What a walk of the chain found."""

    stream: str
    events: int = 0  # chained messages
    unchained: int = 0  # messages stored before the chain began
    head: Head = field(default_factory=lambda: Head(0, GENESIS))
    problem: str | None = None  # the first break, named; None: intact
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> chain hash, for checkpoints
    checkpoints: list[tuple[int, Any]] = field(default_factory=list)  # (seq, ChainCheckpointedData)

    @property
    def intact(self) -> bool:
        return self.problem is None


async def walk(js: JetStreamContext, stream: str = CHAINED_STREAM) -> Walk:
    """Recompute the chain over every stored message; stops at the first break.

    The messages are read first (the constitutional record is small), so a link to a hash stored later
    is told apart from one that no message has: reordered, not missing.
    """
    found = Walk(stream)
    msgs = [m async for m in _messages(js, stream)]
    claimed_at = {(m.headers or {}).get(HASH): m.metadata.sequence.stream for m in msgs if (m.headers or {}).get(HASH)}
    running, before = GENESIS, 0
    for msg in msgs:
        seq = msg.metadata.sequence.stream
        headers = msg.headers or {}
        if HASH not in headers:
            if found.events:
                found.problem = f"seq {seq}: inserted — it carries no chain link, yet the chain began before it"
                return found
            found.unchained += 1
            continue
        prev, claimed = headers.get(PREV, ""), headers[HASH]
        if prev != running:
            if prev in claimed_at or prev == GENESIS:
                linked = claimed_at.get(prev, 0)
                found.problem = (
                    f"seq {seq}: reordered — it links to the event now at seq {linked}, not to the one before it "
                    f"(seq {before})"
                )
            else:
                found.problem = f"seq {seq}: an event before it is missing — it links to a hash no stored event has"
            return found
        if link(prev, msg.data) != claimed:
            found.problem = f"seq {seq}: altered — its stored bytes no longer give its chain hash"
            return found
        if msg.subject.split(".", 3)[2] == CHECKPOINT_TYPE:
            with contextlib.suppress(InvalidEvent):  # a checkpoint that is no event is no checkpoint
                found.checkpoints.append((seq, decode_stored(msg.data, msg.headers, msg.subject).data))
        running, before = claimed, seq
        found.events += 1
        found.head = Head(seq, claimed)
        found.hashes[seq] = claimed
    return found


async def _messages(js: JetStreamContext, stream: str) -> AsyncIterator[Msg]:
    async with StreamReader(js, stream, f"{stream.lower()}.>", Start()) as reader:
        async for batch in reader.drain_to_head(1000):
            for msg in batch:
                yield msg


FORK_RETRIES = 50  # writers racing for the head: each refusal means another link was stored meanwhile


async def append(js: JetStreamContext, subject: str, payload: bytes, headers: dict[str, str], *, timeout: float):
    """Store a message as the chain's next link; the stream's acknowledgement.

    A refusal for a moved head is retried on the new head; any other refusal (including an entity's
    expected sequence, which shares the error code) is the caller's.
    """
    for _ in range(FORK_RETRIES):
        at = await head(js)
        try:
            return await js.publish(
                subject, payload, headers=chained_headers(headers, at, payload), stream=CHAINED_STREAM, timeout=timeout
            )
        except APIError as e:
            if not is_fork(e) or (await head(js)).seq == at.seq:
                raise
    raise APIError(description=f"the constitutional chain's head moved {FORK_RETRIES} times in a row; try again")


def signed_bytes(stream: str, head_seq: int, head_hash: str) -> bytes:
    """What a checkpoint's signature covers."""
    return f"{stream}:{head_seq}:{head_hash}".encode()


def signature_holds(public_key_hex: str, stream: str, head_seq: int, head_hash: str, signature_hex: str) -> bool:
    """Whether `signature_hex` is the Ed25519 signature of that head by that key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), signed_bytes(stream, head_seq, head_hash))
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoints_hold(walked: Walk, trusted: str | None) -> tuple[str | None, tuple[int, int] | None]:
    """(the first checkpoint that does not hold, named; the newest that does: (its seq, the head it signed)).

    Each must be signed by `trusted` (a public key, hex) and its signature must hold for a head the walked chain
    still has at that sequence. Without `trusted`, the first checkpoint's key is the one every later checkpoint
    must share: a reader without the mesh's key (the audit) still sees a checkpoint signed by another.
    """
    signed_at = None
    for seq, cp in walked.checkpoints:
        trusted = trusted or cp.public_key
        if cp.public_key != trusted:
            return f"seq {seq}: a checkpoint signed by key {cp.key_id}, not by this mesh's key", signed_at
        if not signature_holds(cp.public_key, cp.stream, cp.head_seq, cp.head_hash, cp.signature):
            return f"seq {seq}: a checkpoint whose signature does not hold (forged or altered)", signed_at
        if walked.hashes.get(cp.head_seq) != cp.head_hash:
            return f"seq {cp.head_seq}: rewritten — the checkpoint at seq {seq} signed another chain there", signed_at
        signed_at = (seq, cp.head_seq)
    return None, signed_at
