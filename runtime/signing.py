"""The mesh's signing key: Ed25519, made once under the data dir (0600), signs constitutional checkpoints.

Whoever holds NATS admin rights can rewrite a stream; they cannot sign for this key unless they can also
read the data dir. An auditor keeps the exported public key and head outside the mesh (`vsmesh verify
--export`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vsmesh.bus.chain import signed_bytes
from vsmesh.bus.creds import write_private

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
