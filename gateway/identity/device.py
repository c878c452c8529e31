"""The OAuth 2.0 device authorization grant (RFC 8628) at the local issuer: how `vsmesh login --device` signs a
person in from a terminal with no browser of its own (an SSH session, a container).

    POST /device_authorization  client_id           -> device_code, user_code, verification_uri(_complete),
                                                       expires_in, interval
    GET  /device?user_code=…                        -> a page: the code, user name and password, approve or deny
    POST /token  grant_type=…:device_code           -> authorization_pending | slow_down | access_denied |
                                                       expired_token, or the person's tokens once approved

The person approves on the page after entering the password there, so the token's `auth_time` is that moment.
A client polling faster than `interval` gets `slow_down` and must wait 5 s longer from then on (§3.5). Requests
live in memory for `DEVICE_TTL_S`: a restart of the gateway only means `vsmesh login` again.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from vsmesh.errors import OAuthError

log = structlog.get_logger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_TTL_S = 600.0
SLOW_DOWN_S = 5.0  # RFC 8628 §3.5: every slow_down adds this to the interval
# §6.1: base-20 letters without vowels (no words), 8 of them: 20^8 ≈ 2.6e10, and each guess needs a password too.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
DEVICE_PATH = "/device"


@dataclass
class DeviceRequest:
    client_id: str
    user_code: str
    expires_at: float  # time.monotonic()
    interval: float
    next_poll: float  # the earliest time.monotonic() the client may ask again
    person: str | None = None
    auth_time: int | None = None
    denied: bool = False


def normalise(user_code: str) -> str:
    """What a person types, as stored: case and separators do not matter (§6.1)."""
    return "".join(c for c in user_code.upper() if c in USER_CODE_ALPHABET)


def _user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


class DeviceGrants:
    """Pending device requests and the person's page that approves them."""

    def __init__(self, issuer: str, interval_s: float, authenticate: Callable[[str, str], object | None]) -> None:
        self.issuer = issuer.rstrip("/")
        self.interval_s = interval_s
        self.authenticate = authenticate  # (user name, password) -> a person, or None
        self.requests: dict[str, DeviceRequest] = {}  # by device code
        self.by_user_code: dict[str, str] = {}  # normalised user code -> device code

    @property
    def verification_uri(self) -> str:
        return self.issuer + DEVICE_PATH

    def routes(self) -> list[Route]:
        return [
            Route("/device_authorization", self.authorization, methods=["POST"]),
            Route(DEVICE_PATH, self.page, methods=["GET", "POST"]),
        ]

    # --- the client's side
    async def authorization(self, request: Request) -> Response:
        form = await request.form()
        client_id = str(form.get("client_id", ""))
        if not client_id:
            body = {"error": "invalid_request", "error_description": "client_id is missing"}
            return JSONResponse(body, status_code=400)
        self._forget_expired()
        device_code, user_code = secrets.token_urlsafe(32), _user_code()
        now = time.monotonic()
        self.requests[device_code] = DeviceRequest(
            client_id=client_id,
            user_code=user_code,
            expires_at=now + DEVICE_TTL_S,
            interval=self.interval_s,
            next_poll=now,
        )
        self.by_user_code[normalise(user_code)] = device_code
        log.info("device authorization started", client_id=client_id)
        complete = f"{self.verification_uri}?{urllib.parse.urlencode({'user_code': user_code})}"
        body = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": complete,
            "expires_in": int(DEVICE_TTL_S),
            "interval": self.interval_s,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def poll(self, device_code: str, client_id: str) -> DeviceRequest:
        """The approved request (spent: a device code gives tokens once), or the OAuthError §3.5 says."""
        pending = self.requests.get(device_code)
        if pending is None or pending.client_id != client_id:
            raise OAuthError("invalid_grant", "unknown or used device_code, or another client's")
        now = time.monotonic()
        if pending.expires_at < now:
            self._drop(device_code)
            raise OAuthError("expired_token", "the device code expired before anybody approved it: sign in again")
        if pending.denied:
            self._drop(device_code)
            raise OAuthError("access_denied", "the person denied this sign-in")
        if pending.person is not None:
            self._drop(device_code)
            return pending
        # A little slack: a client that sleeps exactly `interval` may wake a hair early.
        if now + min(0.5, pending.interval / 4) < pending.next_poll:
            pending.interval += SLOW_DOWN_S
            pending.next_poll = now + pending.interval
            raise OAuthError("slow_down", f"polling too fast: wait {pending.interval:g} s between requests")
        pending.next_poll = now + pending.interval
        raise OAuthError("authorization_pending", "the person has not approved this sign-in yet")

    # --- the person's side
    async def page(self, request: Request) -> Response:
        if request.method == "GET":
            return _form(request.query_params.get("user_code", ""))
        form = {k: str(v) for k, v in (await request.form()).items()}
        code = form.get("user_code", "")
        device_code = self.by_user_code.get(normalise(code))
        pending = self.requests.get(device_code or "")
        if pending is None or pending.expires_at < time.monotonic():
            return _form(code, "No sign-in waits for this code (mistyped, used or expired).", 404)
        person = await asyncio.to_thread(self.authenticate, form.get("username", ""), form.get("password", ""))
        if person is None:
            log.info("device approval refused", reason="wrong user name or password")
            return _form(code, "Wrong user name or password.", 401)
        if form.get("decision") == "deny":
            pending.denied = True
            log.info("device sign-in denied", person=form["username"])
            return _done("Sign-in denied. The terminal that asked gets no access.")
        pending.person, pending.auth_time = form["username"], int(time.time())
        log.info("device sign-in approved", person=pending.person, client_id=pending.client_id)
        return _done(f"Signed in as {pending.person}. You may close this page and return to your terminal.")

    def _drop(self, device_code: str) -> None:
        pending = self.requests.pop(device_code, None)
        if pending is not None:
            self.by_user_code.pop(normalise(pending.user_code), None)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for device_code in [d for d, p in self.requests.items() if p.expires_at < now]:
            self._drop(device_code)


_PAGE_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'; form-action 'self'"}


def _page(body: str, status: int = 200) -> HTMLResponse:
    head = '<meta charset="utf-8"><title>vsmesh device sign-in</title>'
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head>{head}</head><body>{body}</body></html>',
        status_code=status,
        headers=_PAGE_HEADERS,
    )


def _form(user_code: str, problem: str = "", status: int = 200) -> HTMLResponse:
    alert = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
    return _page(
        f"<h1>Sign in a terminal to vsmesh</h1>{alert}"
        "<p>Approve only a code your own terminal shows you.</p>"
        f'<form method="post" action="{DEVICE_PATH.lstrip("/")}">'
        f'<label>Code <input name="user_code" value="{html.escape(user_code)}" required></label> '
        '<label>User name <input name="username" autocomplete="username" required></label> '
        '<label>Password <input name="password" type="password" autocomplete="current-password" required></label> '
        '<button type="submit" name="decision" value="approve">Approve</button> '
        '<button type="submit" name="decision" value="deny">Deny</button></form>',
        status,
    )


def _done(message: str) -> HTMLResponse:
    return _page(f'<p role="status">{html.escape(message)}</p>')
