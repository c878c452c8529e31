"""The local issuer's signing keys: EC P-256, generated once, kept in `<data dir>/gateway/keys.json` (0600).

`rotate` makes a new key the signing one and keeps the old ones in the JWKS until every token they
signed has expired (`retired_at` + the token lifetime), so rotation never logs anybody out early.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
from joserfc.jwk import ECKey, KeySet

from vsmesh.bus.creds import write_private

ALGORITHM = "ES256"
GATEWAY_DIR = "gateway"
KEYS_FILE = "keys.json"


class StoredKey(msgspec.Struct, kw_only=True):
    kid: str
    created_at: float
    private_jwk: dict[str, str]
    retired_at: float | None = None  # when a newer key took over signing


class KeyFile(msgspec.Struct, kw_only=True):
    keys: list[StoredKey] = []


def gateway_dir(data_dir: Path) -> Path:
    return data_dir / GATEWAY_DIR


def keys_path(data_dir: Path) -> Path:
    return gateway_dir(data_dir) / KEYS_FILE


def _new_key(now: float) -> StoredKey:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALGORITHM})
    kid = key.thumbprint()  # RFC 7638: the same key always gets the same id
    return StoredKey(kid=kid, created_at=now, private_jwk={**key.as_dict(private=True), "kid": kid})


def _save(data_dir: Path, stored: KeyFile) -> None:
    write_private(keys_path(data_dir), msgspec.json.format(msgspec.json.encode(stored)))


def _load(data_dir: Path) -> KeyFile:
    path = keys_path(data_dir)
    return msgspec.json.decode(path.read_bytes(), type=KeyFile) if path.exists() else KeyFile()


def ensure_key(data_dir: Path) -> KeyFile:
    """The key file, with a first signing key generated if there is none."""
    stored = _load(data_dir)
    if not stored.keys:
        stored.keys.append(_new_key(time.time()))
        _save(data_dir, stored)
    return stored


def rotate(data_dir: Path, token_ttl_s: float, *, now: float | None = None) -> tuple[str, list[str]]:
    """Sign with a new key from now on; returns (its kid, the kids still published for older tokens).

    Keys retired longer ago than a token lives are dropped: nothing they signed can still be valid.
    """
    now = time.time() if now is None else now
    stored = ensure_key(data_dir)
    for key in stored.keys:
        if key.retired_at is None:
            key.retired_at = now
    stored.keys = [k for k in stored.keys if now - (k.retired_at or now) <= token_ttl_s]
    new = _new_key(now)
    stored.keys.append(new)
    _save(data_dir, stored)
    return new.kid, [k.kid for k in stored.keys if k is not new]


def drop_retired(data_dir: Path) -> list[str]:
    """Remove every retired key at once (a leaked key): tokens it signed stop verifying. Returns their kids."""
    stored = ensure_key(data_dir)
    dropped = [k.kid for k in stored.keys if k.retired_at is not None]
    stored.keys = [k for k in stored.keys if k.retired_at is None]
    _save(data_dir, stored)
    return dropped


class SigningKeys:
    """The issuer's view of the key file, re-read when `vsmesh gateway rotate-key` changes it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        ensure_key(data_dir)
        self._seen: int | None = None
        self._current: ECKey | None = None
        self._public: dict = {}

    def _refresh(self) -> None:
        mtime = os.stat(keys_path(self.data_dir)).st_mtime_ns  # one stat per use: rotation needs no restart
        if mtime == self._seen:
            return
        stored = _load(self.data_dir)
        keys = [ECKey.import_key(k.private_jwk) for k in stored.keys]
        signing = [key for key, s in zip(keys, stored.keys, strict=True) if s.retired_at is None]
        self._current = signing[-1]
        self._public = KeySet(keys).as_dict(private=False)
        self._seen = mtime

    def current(self) -> ECKey:
        self._refresh()
        assert self._current is not None
        return self._current

    def jwks(self) -> dict:
        self._refresh()
        return self._public
