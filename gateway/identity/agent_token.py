"""An agent's access token from its client credentials file (OAuth client credentials, RFC 6749 §4.4): what
`vsmesh gateway token` prints, what `vsmesh mcp --print-config` writes into the HTTP entry, and what the stdio
bridge presents, renewed before it expires.

    stored = read_credentials(path, "deploy-bot")
    token = fetch_token(stored, token_url(stored, gateway_root))
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

RENEW_BEFORE_S = 30.0  # a token this close to its end is renewed before a request, not after a refusal


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # time.monotonic()


def read_credentials(path: Path, name: str) -> AgentCredentials:
    if not path.exists():
        raise ConfigError(f"no credentials file {path}: `vsmesh agent add {name}` on the mesh's data dir writes it")
    return msgspec.json.decode(path.read_bytes(), type=AgentCredentials)


def token_url(stored: AgentCredentials, gateway_url: str | None) -> str:
    """The gateway's own token endpoint when one is named (its port may have moved), else the stored one."""
    url = f"{gateway_url}/token" if gateway_url else stored.token_url
    if url is None:
        raise MeshNotRunning("no gateway is running here: start one with `vsmesh up`")
    return url


def fetch_token(stored: AgentCredentials, url: str) -> AccessToken:
    """A fresh access token; one line naming the gateway or the refusal when there is none."""
    try:
        answer = httpx.post(
            url, data={"grant_type": "client_credentials"}, auth=(stored.client_id, stored.client_secret), timeout=30
        )
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

    def __init__(self, stored: AgentCredentials, url: str, first: AccessToken | None = None) -> None:
        self._stored, self._url, self._token = stored, url, first
        self._lock = anyio.Lock()

    async def _current(self, *, unless: str | None = None) -> str:
        """The token to send: a new one when it is near its end, or when it is still `unless` (just refused)."""
        async with self._lock:
            token = self._token
            if token is None or token.value == unless or token.expires_at - time.monotonic() < RENEW_BEFORE_S:
                token = self._token = await anyio.to_thread.run_sync(fetch_token, self._stored, self._url)
            return token.value

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        sent = await self._current()
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._current(unless=sent)}"
            yield request
