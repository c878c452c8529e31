"""An agent's access token from its client credentials file (OAuth client credentials, RFC 6749 §4.4): what
`vsmesh gateway token` prints, what `vsmesh mcp --print-config` writes into the HTTP entry, and what the stdio
bridge presents, renewed before it expires.

    stored = read_credentials(path, "deploy-bot")
    token = fetch_token(stored, token_endpoint(stored, gateway_root))
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import msgspec

from vsmesh.errors import ConfigError, MeshNotRunning, Unauthorized
from vsmesh.gateway.identity.clients import AgentCredentials
from vsmesh.gateway.identity.person_token import protected_resource

RENEW_BEFORE_S = 30.0  # a token this close to its end is renewed before a request, not after a refusal


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # time.monotonic()


def read_credentials(path: Path, name: str) -> AgentCredentials:
    if not path.exists():
        raise ConfigError(f"no credentials file {path}: `vsmesh agent add {name}` on the mesh's data dir writes it")
    return msgspec.json.decode(path.read_bytes(), type=AgentCredentials)


@dataclass(frozen=True)
class TokenEndpoint:
    url: str
    resource: str | None = None  # the gateway the token is for (RFC 8707), when it said so


def token_endpoint(stored: AgentCredentials, gateway_url: str | None) -> TokenEndpoint:
    """Where the agent gets its tokens, and for which resource. A named gateway says both in its RFC 9728
    metadata: when it is its own issuer, its /token (its port may have moved since the file was written); when
    it relies on an outside issuer, the token URL the file names, now for the gateway's resource (an issuer
    that follows RFC 8707 makes a JWT for it only when asked). No gateway named: the file's token URL."""
    if not gateway_url:
        if stored.token_url is None:
            raise MeshNotRunning("no gateway is running here: start one with `vsmesh up`")
        return TokenEndpoint(stored.token_url)
    gateway = protected_resource(gateway_url)
    if gateway.issuer in (None, gateway_url.rstrip("/")):
        return TokenEndpoint(f"{gateway_url.rstrip('/')}/token", gateway.resource)
    if stored.token_url is None:
        raise ConfigError(
            f"the gateway takes tokens of {gateway.issuer}, and {stored.client_id}'s credentials name no token_url:"
            " write that issuer's token endpoint into the file"
        )
    return TokenEndpoint(stored.token_url, gateway.resource)


def fetch_token(stored: AgentCredentials, where: TokenEndpoint) -> AccessToken:
    """A fresh access token; one line naming the gateway or the refusal when there is none."""
    url = where.url
    form = {"grant_type": "client_credentials", **({"resource": where.resource} if where.resource else {})}
    try:
        answer = httpx.post(url, data=form, auth=(stored.client_id, stored.client_secret), timeout=30)
    except httpx.HTTPError as e:
        reason = f"{url} ({type(e).__name__})"
        raise MeshNotRunning(f"cannot reach the gateway at {reason}: is `vsmesh up` running?") from None
    try:
        body = answer.json()
    except ValueError:
        body = {"error": f"HTTP {answer.status_code} from {url}, not a token endpoint"}
    if answer.status_code != 200:
        raise Unauthorized(f"the issuer refused {stored.client_id}: {body.get('error_description', body.get('error'))}")
    return AccessToken(body["access_token"], time.monotonic() + float(body.get("expires_in", 60)))


class RenewingBearer(httpx2.Auth):
    """Presents the agent's token on every request, getting a new one shortly before it expires, and once
    more when the gateway refuses it (a rotated key, a restarted issuer)."""

    def __init__(self, stored: AgentCredentials, where: TokenEndpoint, first: AccessToken | None = None) -> None:
        self._stored, self._where, self._token = stored, where, first
        self._lock = anyio.Lock()

    async def _current(self, *, unless: str | None = None) -> str:
        """The token to send: a new one when it is near its end, or when it is still `unless` (just refused)."""
        async with self._lock:
            token = self._token
            if token is None or token.value == unless or token.expires_at - time.monotonic() < RENEW_BEFORE_S:
                token = self._token = await anyio.to_thread.run_sync(fetch_token, self._stored, self._where)
            return token.value

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        sent = await self._current()
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._current(unless=sent)}"
            yield request
