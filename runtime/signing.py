"""The mesh's signing key: Ed25519, made once under the data dir (0600), signs constitutional checkpoints.

Whoever holds NATS admin rights can rewrite a stream; they cannot sign for this key unless they can also
read the data dir. An auditor keeps the exported public key and head outside the mesh (`vsmesh verify
--export`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js import JetStreamContext

from vsmesh.bus.chain import CHAINED_STREAM, CHECKPOINT_TYPE, head, signed_bytes, walk
from vsmesh.bus.creds import write_private
from vsmesh.bus.publisher import Publisher
from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.runtime.signed_heads import remember
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

KEY_FILE = Path("keys") / "chain-signing.pem"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_hex(self) -> str:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()

    @property
    def key_id(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.public_hex)).hexdigest()[:16]

    def sign(self, stream: str, head_seq: int, head_hash: str) -> str:
        return self.private.sign(signed_bytes(stream, head_seq, head_hash)).hex()


def signing_key(data_dir: Path, *, create: bool = True) -> SigningKey | None:
    """The data dir's key (made if missing and `create`); None when there is none to read."""
    path = data_dir.resolve() / KEY_FILE
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} holds no Ed25519 key; move it away and run again to make a new one")
        return SigningKey(loaded)
    if not create:
        return None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, pem)
    return SigningKey(key)


def signed_head(key: SigningKey, stream: str, seq: int, hash_: str) -> dict[str, Any]:
    """A head with the key's signature: what a checkpoint event holds and what an auditor keeps."""
    return {
        "stream": stream,
        "head_seq": seq,
        "head_hash": hash_,
        "key_id": key.key_id,
        "public_key": key.public_hex,
        "signature": key.sign(stream, seq, hash_),
        "signed_at": dt.datetime.now(dt.UTC).isoformat(),
    }


async def publish_checkpoint(js: JetStreamContext, settings: Settings, signed: dict[str, Any]) -> dict[str, Any]:
    """A `chain-checkpointed` event in the registry's namespace; it becomes the chain's next link. The head is
    remembered outside the stream first (runtime/signed_heads.py): a forger can drop the event, not that."""
    await remember(settings, signed)
    publisher = Publisher(js, settings, source="vsmesh/verify")
    fields = ("stream", "head_seq", "head_hash", "public_key", "signature", "key_id")
    subject = f"chain/{signed['stream'].lower()}"
    event = publisher.build(CHECKPOINT_TYPE, hub=REGISTRY_HUB, subject=subject, data={k: signed[k] for k in fields})
    stored = await publisher.publish(event)
    return {"id": stored.event_id, "seq": stored.sequence}


async def last_checkpointed(js: JetStreamContext) -> int:
    """The stream sequence the newest checkpoint signed up to (0: none yet)."""
    import msgspec

    with contextlib.suppress(Exception):
        msg = await js.get_last_msg(CHAINED_STREAM, f"constitutional.{REGISTRY_HUB}.{CHECKPOINT_TYPE}.>")
        return int(msgspec.json.decode(msg.data)["data"]["head_seq"])
    return 0


# How often `vsmesh up` looks at the chain's head: two last-message reads, so a look costs nothing; the walk
# that signing needs comes only once `chain_checkpoint_every` events have arrived since the last checkpoint.
LOOK_S = 1.0


async def keep_signing(
    js: JetStreamContext, settings: Settings, stop: asyncio.Event, *, check_s: float = LOOK_S
) -> None:
    """`vsmesh up`: every `chain_checkpoint_every` constitutional events, verify the chain and sign its head.

    A broken chain is never signed: it is logged (and `vsmesh verify` names the break), once per head — not
    walked and logged again at every look while nothing new arrived."""
    every = settings.chain_checkpoint_every
    broken_at = 0  # the head a walk last found broken
    while every and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_s)
        if stop.is_set():
            return
        try:
            at = await head(js)
            if at.seq == broken_at or at.seq - await last_checkpointed(js) < every:
                continue
            walked = await walk(js)
            if not walked.intact:
                broken_at = at.seq
                log.error("constitutional chain broken; not signed", problem=walked.problem, head_seq=at.seq)
                continue
            key = signing_key(settings.data_dir)
            signed = signed_head(key, CHAINED_STREAM, walked.head.seq, walked.head.hash)
            done = await publish_checkpoint(js, settings, signed)
            log.info("constitutional chain signed", head_seq=walked.head.seq, checkpoint_seq=done["seq"])
        except Exception as e:  # noqa: BLE001 - signing tries again at the next look; the mesh goes on
            log.warning("constitutional chain not signed this time", error=repr(e))
