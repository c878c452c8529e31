"""The gateway's token verifier: bearer JWTs checked against the issuer's JWKS, as the MCP SDK's
`TokenVerifier` (resource.py puts it behind the SDK's bearer authentication).

The JWKS is found through the issuer's OIDC discovery document (httpx), cached for `jwks_max_age_s`, and
fetched again once when a token names a key id it does not hold (the issuer rotated). Every refusal is an
`InvalidToken` (an `Unauthorized`) whose `challenge` is the WWW-Authenticate value RFC 6750 §3 and the MCP
authorization specification ask for: it points the client at this gateway's protected-resource metadata
(RFC 9728) and says why the token was refused.

Actor kind: the `actor_kind` claim (the local issuer sets it; for Keycloak, a hardcoded-claim mapper on
the agent's client, see the README). A token without it is a person's, unless its client (`client_id`,
else `azp`) is registered here as an agent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import structlog
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from mcp.server.auth.provider import AccessToken
from pydantic import ConfigDict
from starlette.authentication import AuthenticationError

from vsmesh.errors import Unauthorized
from vsmesh.gateway.identity.principal import Principal

log = structlog.get_logger(__name__)

# Asymmetric only: a symmetric algorithm would let anybody holding the public key sign.
ALGORITHMS = ("ES256", "ES384", "RS256", "PS256")
KINDS = ("human", "agent", "service")


def resource_metadata_url(gateway_url: str) -> str:
    return gateway_url.rstrip("/") + "/.well-known/oauth-protected-resource"


class InvalidToken(Unauthorized, AuthenticationError):
    """A refused token, the reason in its challenge. Also Starlette's AuthenticationError: raised inside the
    SDK's BearerAuthBackend, it reaches AuthenticationMiddleware's `on_error` (the 401 naming the reason)
    rather than letting the request through as an anonymous one."""


class VerifiedToken(AccessToken):
    """The SDK's access token of a verified bearer token, with the caller it proves."""

    model_config = ConfigDict(arbitrary_types_allowed=True)  # Principal is a msgspec Struct
    principal: Principal


class TokenVerifier:
    """Checks a bearer token's signature, `iss`, `aud`, `exp` and `nbf`; returns the caller. An implementation of
    the MCP SDK's `TokenVerifier` protocol (`verify_token`), and `verify` for the sign-in and services."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        gateway_url: str,
        is_agent_client: Callable[[str], bool] = lambda client_id: False,
        leeway_s: int = 30,
        jwks_max_age_s: float = 300.0,
        refetch_floor_s: float = 0.2,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.metadata_url = resource_metadata_url(gateway_url)
        self.is_agent_client = is_agent_client
        self.jwks_max_age_s = jwks_max_age_s
        self.refetch_floor_s = refetch_floor_s  # unknown kids in a flood cannot make us hammer the issuer
        self.leeway_s = leeway_s
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._claims = jwt.JWTClaimsRegistry(
            leeway=leeway_s,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The verifier's HTTP client, shared with the pages' sign-in: one client, closed with the app."""
        return self._http

    def challenge(self, description: str | None = None) -> str:
        """The WWW-Authenticate value; with a description, `error="invalid_token"` (RFC 6750 §3.1)."""
        value = f'Bearer resource_metadata="{self.metadata_url}"'
        if description is None:
            return value
        safe = description.replace('"', "'").replace("\\", "/")  # a quoted-string may not hold either
        return f'{value}, error="invalid_token", error_description="{safe}"'

    def refuse(self, reason: str) -> InvalidToken:
        return InvalidToken(f"invalid token: {reason}", challenge=self.challenge(reason))

    async def verify_token(self, token: str) -> VerifiedToken | None:
        """The SDK's `TokenVerifier`: the access token a bearer token proves, None for an empty one. A refused
        token raises InvalidToken rather than answering None as the protocol allows: with None, the client
        would be told nothing of why (expired, another audience, an unknown key)."""
        token = token.strip()
        if not token:
            return None
        claims = await self.claims(token)
        who = self.principal(claims)
        return VerifiedToken(
            token=token,
            client_id=who.client_id,
            scopes=list(who.scopes),
            # The SDK's backend refuses a token past `expires_at` again, without our clock leeway.
            expires_at=int(claims["exp"]) + self.leeway_s,
            resource=self.audience,
            subject=who.subject,
            claims=claims,
            principal=who,
        )

    async def verify(self, token: str) -> Principal:
        """The caller a bearer token proves; InvalidToken when it proves none."""
        return self.principal(await self.claims(token))

    async def claims(self, token: str) -> dict:
        """The claims of a token whose signature, issuer, audience and times hold; InvalidToken otherwise."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as e:
            raise self.refuse("not a signed JWT") from e
        if header.get("alg") not in ALGORITHMS:
            raise self.refuse(f"algorithm {header.get('alg')!r} is not accepted")
        key_set = await self._key_set(str(header.get("kid", "")))
        try:
            decoded = jwt.decode(token, key_set, algorithms=list(ALGORITHMS))
            self._claims.validate(decoded.claims)
        except BadSignatureError as e:
            raise self.refuse("the signature does not verify") from e
        except ExpiredTokenError as e:
            raise self.refuse("the token has expired") from e
        except MissingClaimError as e:
            raise self.refuse(f"missing claim {e.description}") from e
        except InvalidClaimError as e:
            if e.claim in ("nbf", "iat"):
                raise self.refuse("the token is not valid yet") from e
            raise self.refuse(f"wrong {e.claim}: this gateway accepts only its issuer and audience") from e
        except (JoseError, ValueError) as e:
            raise self.refuse(f"unreadable token ({type(e).__name__})") from e
        return decoded.claims

    def principal(self, claims: dict) -> Principal:
        client_id = str(claims.get("client_id") or claims.get("azp") or "")
        kind = claims.get("actor_kind")
        if kind not in KINDS:
            kind = "agent" if client_id and self.is_agent_client(client_id) else "human"
        scope = claims.get("scope")
        return Principal(
            subject=str(claims["sub"]),
            kind=kind,
            name=str(claims.get("name") or claims.get("preferred_username") or claims["sub"]),
            client_id=client_id,
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )

    async def _key_set(self, kid: str) -> KeySet:
        """The cached JWKS, fetched again when it is old or lacks `kid` (at most once per floor interval)."""
        if self._due(kid) or not self._holds(kid):
            async with self._lock:
                if not self._due(kid) and not self._holds(kid):
                    # Fetched less than the floor ago (a key rotated just after): wait out the floor, not refuse.
                    await asyncio.sleep(max(0.0, self.refetch_floor_s - (time.monotonic() - self._fetched_at)))
                if self._due(kid):  # another request may have fetched it while this one waited
                    await self._fetch()
        if not self._holds(kid):
            raise self.refuse(f"unknown signing key {kid!r}")
        assert self._keys is not None
        return self._keys

    def _due(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        return self._keys is None or age > self.jwks_max_age_s or (not self._holds(kid) and age > self.refetch_floor_s)

    def _holds(self, kid: str) -> bool:
        return self._keys is not None and any(k.kid == kid for k in self._keys.keys)

    async def _fetch(self) -> None:
        discovery = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = (await self._http.get(discovery)).raise_for_status().json()
            if document.get("issuer") != self.issuer:
                raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}")
            keys = (await self._http.get(document["jwks_uri"])).raise_for_status().json()
            self._keys = KeySet.import_key_set(keys)
        except (httpx.HTTPError, ValueError, KeyError, JoseError) as e:
            log.warning("issuer keys unavailable", issuer=self.issuer, error=str(e))
            if self._keys is None:
                raise self.refuse("the issuer's keys cannot be fetched") from e
            # Keep the keys we had (a short issuer outage must not refuse valid tokens), and do not ask again
            # on every request: each would wait for the issuer's time-out.
            self._fetched_at = time.monotonic()
            return
        self._fetched_at = time.monotonic()
        log.info("issuer keys fetched", issuer=self.issuer, kids=[k.kid for k in self._keys.keys])

    async def aclose(self) -> None:
        await self._http.aclose()
