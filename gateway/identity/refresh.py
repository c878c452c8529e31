"""People's refresh tokens at the local issuer, rotated on every use (OAuth 2.0 Security BCP §4.14.2).

A refresh token is 32 random bytes the client keeps; the issuer keeps only its SHA-256 (a hash of a random
value that long needs no salt or slow KDF), in `<data dir>/gateway/refresh.json` (0600), so a session survives a
restart of `vsmesh up`. Using one gives a new access token and a new refresh token and spends the old one; a spent
token presented again means two parties hold it (stolen), so its whole family — every token rotated from the
same sign-in — is dropped, and the person signs in again.

A refresh keeps the sign-in's `auth_time`: it renews access, never the freshness governance asks for.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from vsmesh.bus.creds import write_private
from vsmesh.errors import OAuthError
from vsmesh.gateway.identity.keys import gateway_dir

REFRESH_FILE = "refresh.json"


class Grant(msgspec.Struct, kw_only=True):
    """What a refresh token stands for: one person's sign-in at one client."""

    subject: str
    client_id: str
    auth_time: int  # when the person entered the password (unix seconds)
    family: str  # the sign-in's id, shared by every token rotated from it
    expires_at: float
    spent: bool = False


class RefreshFile(msgspec.Struct, kw_only=True):
    grants: dict[str, Grant] = {}  # by the token's SHA-256 (hex)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class RefreshTokens:
    data_dir: Path
    ttl_s: float

    def __post_init__(self) -> None:
        # Read and written whole on the issuer's event loop, one request at a time: a spend cannot interleave.
        self.path = gateway_dir(self.data_dir) / REFRESH_FILE

    def _load(self) -> RefreshFile:
        return msgspec.json.decode(self.path.read_bytes(), type=RefreshFile) if self.path.exists() else RefreshFile()

    def _save(self, stored: RefreshFile) -> None:
        now = time.time()
        stored.grants = {k: g for k, g in stored.grants.items() if g.expires_at > now}
        write_private(self.path, msgspec.json.encode(stored))

    def issue(self, subject: str, client_id: str, auth_time: int, family: str | None = None) -> str:
        """A new refresh token for a sign-in (a new family) or a rotation (the family it came from)."""
        token = secrets.token_urlsafe(32)
        grant = Grant(
            subject=subject,
            client_id=client_id,
            auth_time=auth_time,
            family=family or secrets.token_hex(8),
            expires_at=time.time() + self.ttl_s,
        )
        stored = self._load()
        stored.grants[_digest(token)] = grant
        self._save(stored)
        return token

    def spend(self, token: str, client_id: str) -> Grant:
        """The grant behind `token`, which can never be used again; OAuthError invalid_grant otherwise."""
        stored = self._load()
        grant = stored.grants.get(_digest(token))
        if grant is None or grant.expires_at <= time.time():
            raise OAuthError("invalid_grant", "unknown or expired refresh token: sign in again (`vsmesh login`)")
        if grant.spent:  # a rotated token used again: whoever else holds it loses the whole sign-in too
            self._drop_family(stored, grant.family)
            raise OAuthError(
                "invalid_grant", "refresh token already used: the sign-in is revoked, sign in again (`vsmesh login`)"
            )
        if grant.client_id != client_id:
            raise OAuthError("invalid_grant", "this refresh token was issued to another client")
        grant.spent = True
        self._save(stored)
        return grant

    def revoke(self, token: str) -> None:
        """Sign-out (RFC 7009 in spirit): the token's whole family stops working."""
        stored = self._load()
        grant = stored.grants.get(_digest(token))
        if grant is not None:
            self._drop_family(stored, grant.family)

    def _drop_family(self, stored: RefreshFile, family: str) -> None:
        stored.grants = {k: g for k, g in stored.grants.items() if g.family != family}
        self._save(stored)
