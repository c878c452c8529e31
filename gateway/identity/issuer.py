"""A small OIDC issuer, so an embedded mesh needs no identity provider of its own; served by the gateway unless
VSMESH_OIDC_ISSUER names a real one: discovery, JWKS, and a token endpoint with

- client credentials for agents and services (`client_secret_basic` or `client_secret_post`),
- authorization code with PKCE (S256 only) for people, after a minimal login page,
- the device authorization grant (RFC 8628, device.py) for people at a terminal, and
- refresh tokens for people, rotated on every use (refresh.py).

A person's token carries `auth_time`, when the password was entered: this issuer keeps no sign-in session, so
every authorization asks for the password again and any `max_age` a client sends holds; a refresh keeps the
sign-in's `auth_time`, so only a new password makes a person fresh again (governance's step-up).

Access tokens are short-lived ES256 JWTs (joserfc signs them). People use a public client with a loopback
redirect URI (RFC 8252 §7.3: any port on 127.0.0.1, [::1] or localhost), so a code never leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import secrets
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from joserfc import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from vsmesh.errors import OAuthError
from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.identity.device import DEVICE_GRANT, DeviceGrants
from vsmesh.gateway.identity.keys import ALGORITHM, SigningKeys
from vsmesh.gateway.identity.refresh import RefreshTokens

log = structlog.get_logger(__name__)

CODE_TTL_S = 60.0
PAGES_CLIENT = "vsmesh-pages"  # the pages' sign-in (gateway/identity/signin.py): a public client of this issuer
PAGES_CALLBACK = "/signin/callback"
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "::1", "localhost")


@dataclass(frozen=True)
class IssuerConfig:
    issuer: str  # this issuer's URL, the `iss` of its tokens
    audience: str  # the gateway's resource URL, the `aud` of its tokens
    data_dir: Path
    token_ttl_s: int = 600
    refresh_ttl_s: int = 14 * 86400
    device_poll_s: float = 5.0


@dataclass(frozen=True)
class PendingCode:
    client_id: str
    redirect_uri: str
    challenge: str
    person: str
    auth_time: int
    expires_at: float


@dataclass
class Issuer:
    config: IssuerConfig
    keys: SigningKeys = field(init=False)
    clients: Clients = field(init=False)
    device: DeviceGrants = field(init=False)
    refresh: RefreshTokens = field(init=False)
    codes: dict[str, PendingCode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = SigningKeys(self.config.data_dir)
        self.clients = Clients(self.config.data_dir)
        self.device = DeviceGrants(self.config.issuer, self.config.device_poll_s, self.clients.authenticate_person)
        self.refresh = RefreshTokens(self.config.data_dir, self.config.refresh_ttl_s)

    # --- tokens
    def mint(
        self,
        *,
        subject: str,
        name: str,
        client_id: str,
        actor_kind: str,
        now: float | None = None,
        auth_time: int | None = None,
    ) -> str:
        """A signed access token for the gateway's audience; a person's names when the password was entered."""
        now = int(time.time() if now is None else now)
        claims = {
            "iss": self.config.issuer,
            "sub": subject,
            "aud": self.config.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.config.token_ttl_s,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "name": name,
            "actor_kind": actor_kind,
            **({"auth_time": auth_time} if auth_time is not None else {}),
        }
        key = self.keys.current()
        return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "at+jwt"}, claims, key)

    def _answer(self, token: str, refresh_token: str | None = None) -> JSONResponse:
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.config.token_ttl_s}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _person_tokens(self, person: str, client_id: str, auth_time: int, family: str | None = None) -> JSONResponse:
        """A person's access token and a refresh token (of a new sign-in, or rotated within `family`)."""
        access = self.mint(subject=person, name=person, client_id=client_id, actor_kind="human", auth_time=auth_time)
        return self._answer(access, self.refresh.issue(person, client_id, auth_time, family))

    # --- endpoints
    async def discovery(self, request: Request) -> JSONResponse:
        base = self.config.issuer.rstrip("/")
        return JSONResponse(
            {
                "issuer": self.config.issuer,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "device_authorization_endpoint": f"{base}/device_authorization",
                "revocation_endpoint": f"{base}/revoke",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token", DEVICE_GRANT],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "code_challenge_methods_supported": ["S256"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALGORITHM],
                "claims_supported": ["sub", "name", "client_id", "actor_kind", "auth_time"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(self.keys.jwks(), headers={"Cache-Control": "max-age=60"})

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = str(form.get("grant_type", ""))
        try:
            if grant == "client_credentials":
                return await self._client_credentials(request, form)
            if grant == "authorization_code":
                return self._authorization_code(form)
            if grant == DEVICE_GRANT:
                return self._device_code(form)
            if grant == "refresh_token":
                return self._refresh_token(form)
            raise OAuthError(
                "unsupported_grant_type",
                f"grant_type {grant!r}: use client_credentials, authorization_code, refresh_token or {DEVICE_GRANT}",
            )
        except OAuthError as e:
            log.info("token refused", grant=grant, error=e.error, reason=str(e))
            headers = {"WWW-Authenticate": 'Basic realm="vsmesh"'} if e.status == 401 else {}
            return JSONResponse({"error": e.error, "error_description": str(e)}, status_code=e.status, headers=headers)

    async def _client_credentials(self, request: Request, form) -> Response:
        client_id, secret = _client_auth(request, form)
        client = await asyncio.to_thread(self.clients.authenticate_client, client_id, secret)
        if client is None:  # unknown, removed, or a wrong secret: one answer, so ids cannot be probed
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
        log.info("token issued", grant="client_credentials", client_id=client.client_id, kind=client.kind)
        return self._answer(
            self.mint(
                subject=client.client_id, name=client.client_id, client_id=client.client_id, actor_kind=client.kind
            )
        )

    def _authorization_code(self, form) -> Response:
        code = self.codes.pop(str(form.get("code", "")), None)  # single use, even when the rest is wrong
        if code is None or code.expires_at < time.monotonic():
            raise OAuthError("invalid_grant", "unknown, used or expired authorization code")
        if str(form.get("client_id", "")) != code.client_id or str(form.get("redirect_uri", "")) != code.redirect_uri:
            raise OAuthError("invalid_grant", "client_id or redirect_uri differ from the authorization request")
        verifier = str(form.get("code_verifier", ""))
        if not hmac.compare_digest(_s256(verifier), code.challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge (PKCE S256)")
        log.info("token issued", grant="authorization_code", client_id=code.client_id, subject=code.person)
        return self._person_tokens(code.person, code.client_id, code.auth_time)

    def _device_code(self, form) -> Response:
        approved = self.device.poll(str(form.get("device_code", "")), str(form.get("client_id", "")))
        assert approved.person is not None and approved.auth_time is not None
        log.info("token issued", grant="device_code", client_id=approved.client_id, subject=approved.person)
        return self._person_tokens(approved.person, approved.client_id, approved.auth_time)

    def _refresh_token(self, form) -> Response:
        grant = self.refresh.spend(str(form.get("refresh_token", "")), str(form.get("client_id", "")))
        if grant.subject not in self.clients.load().people:
            raise OAuthError("invalid_grant", f"{grant.subject} may no longer sign in here")
        log.info("token issued", grant="refresh_token", client_id=grant.client_id, subject=grant.subject)
        return self._person_tokens(grant.subject, grant.client_id, grant.auth_time, grant.family)

    async def authorize(self, request: Request) -> Response:
        """GET: the login page for a valid request; POST: check the password, redirect back with a code."""
        params = dict(await request.form()) if request.method == "POST" else dict(request.query_params)
        params = {k: str(v) for k, v in params.items()}
        try:
            _check_authorization_request(params, f"{request.url.scheme}://{request.url.netloc}")
        except OAuthError as e:  # no redirect to an unchecked URI: the error is shown here
            return HTMLResponse(_page(f"<p>Cannot sign in: {html.escape(str(e))}</p>"), status_code=e.status)
        if request.method == "GET":
            return HTMLResponse(_login_form(params), headers=_PAGE_HEADERS)
        person = await asyncio.to_thread(
            self.clients.authenticate_person, params.get("username", ""), params.get("password", "")
        )
        if person is None:
            log.info("login refused", client_id=params["client_id"])
            return HTMLResponse(
                _login_form(params, "Wrong user name or password."), status_code=401, headers=_PAGE_HEADERS
            )
        code = secrets.token_urlsafe(32)
        self._forget_expired()
        self.codes[code] = PendingCode(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            challenge=params["code_challenge"],
            person=person.name,
            auth_time=int(time.time()),
            expires_at=time.monotonic() + CODE_TTL_S,
        )
        query = {"code": code, **({"state": params["state"]} if params.get("state") else {})}
        separator = "&" if "?" in params["redirect_uri"] else "?"
        return RedirectResponse(params["redirect_uri"] + separator + urllib.parse.urlencode(query), status_code=303)

    async def revoke(self, request: Request) -> Response:
        """RFC 7009 for refresh tokens (`vsmesh logout`): the sign-in ends; 200 whatever the token was (§2.2)."""
        form = await request.form()
        self.refresh.revoke(str(form.get("token", "")))
        return Response(status_code=200)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for code in [c for c, pending in self.codes.items() if pending.expires_at < now]:
            del self.codes[code]

    def routes(self) -> list[Route]:
        return [
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/.well-known/oauth-authorization-server", self.discovery),  # RFC 8414, what MCP clients ask
            Route("/jwks", self.jwks),
            Route("/token", self.token, methods=["POST"]),
            Route("/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/revoke", self.revoke, methods=["POST"]),
            *self.device.routes(),
        ]


def _client_auth(request: Request, form) -> tuple[str, str]:
    """client_secret_basic (RFC 6749 §2.3.1: form-encoded id and secret in Basic) or client_secret_post."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
            client_id, secret = raw.split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(
                "invalid_client", "the Basic authorization header is not base64 of id:secret", 401
            ) from None
        return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
    client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    if not client_id or not secret:
        raise OAuthError("invalid_client", "send client_id and client_secret (or HTTP Basic)", 401)
    return client_id, secret


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _check_authorization_request(params: dict[str, str], origin: str) -> None:
    """A well-formed request whose code may go back only to a loopback URI, or for the pages' client to this
    gateway's own sign-in callback on the origin the browser used (a code sent to another origin could be
    exchanged by whoever started the request there)."""
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "response_type must be code")
    if not params.get("client_id"):
        raise OAuthError("invalid_request", "client_id is missing")
    if params.get("code_challenge_method") != "S256" or len(params.get("code_challenge", "")) < 43:
        raise OAuthError("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
    if params["client_id"] == PAGES_CLIENT and params.get("redirect_uri") == origin + PAGES_CALLBACK:
        return
    uri = urllib.parse.urlsplit(params.get("redirect_uri", ""))
    if uri.scheme != "http" or uri.hostname is None or uri.hostname not in LOOPBACK_HOSTS or uri.fragment:
        raise OAuthError("invalid_request", "redirect_uri must be an http loopback URI (127.0.0.1, [::1], localhost)")


_PAGE_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'; form-action 'self'"}
_HIDDEN = (
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "max_age",  # kept, not needed: the form always asks the password, so every max_age holds
    "prompt",
)


def _page(body: str) -> str:
    head = '<meta charset="utf-8"><title>vsmesh sign-in</title>'
    return f'<!doctype html><html lang="en"><head>{head}</head><body>{body}</body></html>'


def _login_form(params: dict[str, str], problem: str = "") -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">' for name in _HIDDEN if name in params
    )
    alert = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
    return _page(
        f"<h1>Sign in to vsmesh</h1>{alert}"
        f'<form method="post" action="authorize">{hidden}'
        '<label>User name <input name="username" autocomplete="username" required></label> '
        '<label>Password <input name="password" type="password" autocomplete="current-password" required></label> '
        '<button type="submit">Sign in</button></form>'
        f"<p>Signing in for {html.escape(params['client_id'])}.</p>"
    )
