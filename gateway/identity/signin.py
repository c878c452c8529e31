"""People sign in to the pages with the gateway's issuer: authorization code with PKCE (RFC 7636, S256).

    GET /signin?next=/operational   -> the issuer's login page (its /authorize), a fresh verifier and state
    GET /signin/callback?code&state -> the code exchanged at the token endpoint, the token verified, and the
                                       token kept in an HttpOnly cookie: each page request verifies it again
    POST /signout                   -> the cookie dropped

The pages are the issuer's public client `vsmesh-pages`; its redirect URI is this gateway's own
`/signin/callback` on the origin the browser used (the issuer checks it, gateway/identity/issuer.py). The token is
asked for this gateway (RFC 8707 `resource`, its audience): an outside issuer that follows RFC 8707 makes a JWT for
it only when asked. The session
lasts as long as the token (VSMESH_TOKEN_TTL_S): then the person signs in again.

Who may read without signing in: a browser on this machine (a loopback client address). Behind a reverse
proxy on this machine, the proxy must send X-Forwarded-For (uvicorn takes the client address from it for
connections from 127.0.0.1), or every visitor would look local.
"""

from __future__ import annotations

import base64
import hashlib
import html
import ipaddress
import json
import secrets
import urllib.parse
from dataclasses import dataclass

import httpx
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from vsmesh.errors import Unauthorized
from vsmesh.gateway.identity.issuer import PAGES_CALLBACK as CALLBACK_PATH
from vsmesh.gateway.identity.issuer import PAGES_CLIENT
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.identity.verify import TokenVerifier

log = structlog.get_logger(__name__)

SESSION_COOKIE = "vsmesh_session"
FLOW_COOKIE = "vsmesh_signin"
FLOW_TTL_S = 600  # from the sign-in link to the login form's answer


def from_loopback(request: Request) -> bool:
    """Whether the browser is on this machine (its address, or X-Forwarded-For's from a local proxy)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def callback_url(origin: str) -> str:
    return origin.rstrip("/") + CALLBACK_PATH


def origin_of(request: Request) -> str:
    """The origin the browser used (scheme, host and port of its request)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _safe_next(target: str | None) -> str:
    """Only a path of this gateway: `next` must not send a signed-in person elsewhere (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass(frozen=True)
class Endpoints:
    authorize: str  # where the browser goes (relative for the local issuer: the origin the browser used)
    token: str  # where the gateway exchanges the code (server to server)


class SignIn:
    def __init__(self, issuer: str, verifier: TokenVerifier, *, local_issuer: bool) -> None:
        self.issuer = issuer.rstrip("/")
        self.verifier = verifier
        self.local_issuer = local_issuer
        self._endpoints: Endpoints | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/signin", self.start),
            Route(CALLBACK_PATH, self.callback),
            Route("/signout", self.sign_out, methods=["POST"]),
        ]

    async def viewer(self, request: Request) -> Principal | None:
        """The signed-in person of this request: the session cookie's token, verified now; None without one."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            return await self.verifier.verify(token)
        except Unauthorized as e:
            log.info("page session refused", reason=str(e))
            return None

    async def start(self, request: Request) -> Response:
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        flow = {"verifier": verifier, "state": state, "next": _safe_next(request.query_params.get("next"))}
        query = {
            "response_type": "code",
            "client_id": PAGES_CLIENT,
            "redirect_uri": callback_url(origin_of(request)),
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
            "state": state,
            "scope": "openid",  # an OpenID sign-in: an issuer grants nothing to a request that asks for no scope
            "resource": self.verifier.audience,
        }
        endpoints = await self.endpoints()
        response = RedirectResponse(f"{endpoints.authorize}?{urllib.parse.urlencode(query)}", status_code=303)
        cookie = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
        response.set_cookie(FLOW_COOKIE, cookie, max_age=FLOW_TTL_S, path="/signin", **_cookie_flags(request))
        return response

    async def callback(self, request: Request) -> Response:
        flow = _flow(request)
        if flow is None or not secrets.compare_digest(flow["state"], request.query_params.get("state", "")):
            return _problem("This sign-in expired or was started elsewhere.", 400)
        if "error" in request.query_params or "code" not in request.query_params:
            return _problem(f"The issuer did not sign you in: {request.query_params.get('error', 'no code')}.", 400)
        form = {
            "grant_type": "authorization_code",
            "code": request.query_params["code"],
            "redirect_uri": callback_url(origin_of(request)),
            "client_id": PAGES_CLIENT,
            "code_verifier": flow["verifier"],
            "resource": self.verifier.audience,
        }
        try:
            answer = await self.verifier.http.post((await self.endpoints()).token, data=form)
            body = answer.json()
            token = body["access_token"]
            person = await self.verifier.verify(token)
        except (httpx.HTTPError, ValueError, KeyError) as e:
            log.warning("page sign-in failed", error=type(e).__name__)
            return _problem("The issuer's token endpoint gave no token.", 502)
        except Unauthorized as e:
            return _problem(f"The issuer's token does not verify here: {e}.", 401)
        log.info("page sign-in", subject=person.subject, kind=person.kind)
        response = RedirectResponse(flow["next"], status_code=303)
        max_age = int(body.get("expires_in") or 600)
        response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", **_cookie_flags(request))
        response.delete_cookie(FLOW_COOKIE, path="/signin")
        return response

    async def sign_out(self, request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def endpoints(self) -> Endpoints:
        """The local issuer's endpoints on this gateway; an outside issuer's from its discovery document."""
        if self._endpoints is None:
            if self.local_issuer:
                self._endpoints = Endpoints(authorize="/authorize", token=f"{self.issuer}/token")
            else:
                found = await self.verifier.http.get(f"{self.issuer}/.well-known/openid-configuration")
                document = found.raise_for_status().json()
                self._endpoints = Endpoints(document["authorization_endpoint"], document["token_endpoint"])
        return self._endpoints


def _cookie_flags(request: Request) -> dict:
    # HttpOnly: no script reads the token; Lax: sent on a followed link, not on another site's form post.
    return {"httponly": True, "samesite": "lax", "secure": request.url.scheme == "https"}


def _flow(request: Request) -> dict | None:
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        return None
    try:
        flow = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    ok = isinstance(flow, dict) and all(isinstance(flow.get(k), str) for k in ("verifier", "state", "next"))
    return flow if ok else None


def _problem(message: str, status: int) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>vsmesh sign-in</title>'
        f'<p role="alert">{html.escape(message)}</p><p><a href="/signin">Sign in again</a></p></html>'
    )
    return HTMLResponse(body, status_code=status)
