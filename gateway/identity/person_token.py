"""A person's tokens from an OIDC issuer, as a command-line client gets them (`vsmesh login`): the device
authorization grant (RFC 8628) or authorization code with PKCE (RFC 7636, S256) through a loopback redirect
(RFC 8252 §7.3), and refresh. The local issuer and an outside one (Keycloak) alike: endpoints come from the
issuer's discovery document. The client is public (`vsmesh-cli`): no secret a terminal could leak.

Every request names the gateway as the resource (RFC 8707 `resource`), as its RFC 9728 metadata gives it: an
issuer that follows RFC 8707 (oidc-provider, Authlete, …) issues a JWT access token for the gateway only when
asked for one, and an opaque token for its own userinfo otherwise; the local issuer and Keycloak ignore it.

    gateway = protected_resource(gateway_url)  # the issuer the gateway takes tokens of, and its resource name
    endpoints = discover(gateway.issuer, gateway.resource)
    started = start_device(endpoints)        # show started.verification_uri_complete / user_code
    tokens = poll_device(endpoints, started) # until the person approved (or denied, or it expired)
    tokens = browser_sign_in(endpoints, show=print)
    tokens = refresh(endpoints, tokens.refresh_token)
"""

from __future__ import annotations

import http.server
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import msgspec

from vsmesh.errors import MeshNotRunning, Unauthorized
from vsmesh.gateway.identity.device import DEVICE_GRANT, SLOW_DOWN_S
from vsmesh.gateway.identity.issuer import _s256
from vsmesh.gateway.identity.verify import resource_metadata_url

CLI_CLIENT = "vsmesh-cli"
ISSUER = "the issuer (`vsmesh up`)"


class Endpoints(msgspec.Struct, kw_only=True):
    issuer: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    resource: str | None = None  # the gateway's resource URL, the audience of the tokens asked for (RFC 8707)


class ProtectedResource(msgspec.Struct, kw_only=True):
    """A gateway's RFC 9728 metadata: its resource URL (its tokens' audience) and the issuers it takes."""

    resource: str
    authorization_servers: list[str] = []

    @property
    def issuer(self) -> str | None:
        return self.authorization_servers[0] if self.authorization_servers else None


class Tokens(msgspec.Struct, kw_only=True):
    access_token: str
    expires_in: float = 300.0
    refresh_token: str | None = None


class DeviceStart(msgspec.Struct, kw_only=True):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_in: float = 600.0
    interval: float = 5.0


def _unreachable(url: str, e: Exception, what: str) -> MeshNotRunning:
    """Why `url` did not answer, one line: an untrusted certificate (an issuer on a private CA) is not a server
    that is down, and the fix differs."""
    cause: BaseException | None = e
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__  # httpx's error, httpcore's, then the ssl module's
    if cause is not None:
        return MeshNotRunning(
            f"cannot reach {url}: its certificate is not trusted ({cause.verify_message}); if its CA is a private"
            " one, set SSL_CERT_FILE to a file holding it"
        )
    return MeshNotRunning(f"cannot reach {url} ({type(e).__name__}): is {what} running?")


def _get(url: str, what: str = ISSUER) -> dict:
    try:
        return httpx.get(url, timeout=10).raise_for_status().json()
    except httpx.HTTPError as e:
        raise _unreachable(url, e, what) from None
    except ValueError as e:
        raise MeshNotRunning(f"cannot read {url} ({type(e).__name__}): is {what} running?") from None


def protected_resource(gateway_url: str) -> ProtectedResource:
    """What the gateway says of itself as a protected resource: the resource to ask tokens for, and its issuer."""
    url = resource_metadata_url(gateway_url)
    try:
        return msgspec.convert(_get(url, what="the gateway (`vsmesh up`)"), ProtectedResource, strict=False)
    except msgspec.ValidationError as e:
        raise MeshNotRunning(f"{url} is not a protected resource's metadata (RFC 9728: {e})") from None


def discover(issuer: str, resource: str | None = None) -> Endpoints:
    """The issuer's endpoints from its OIDC discovery document; tokens are asked for `resource` (RFC 8707)."""
    document = _get(issuer.rstrip("/") + "/.well-known/openid-configuration")
    try:
        return msgspec.convert({**document, "resource": resource}, Endpoints, strict=False)
    except msgspec.ValidationError as e:
        raise MeshNotRunning(f"{issuer} has no usable OIDC discovery document ({e})") from None


def _for_resource(endpoints: Endpoints, form: dict[str, str]) -> dict[str, str]:
    return {**form, "resource": endpoints.resource} if endpoints.resource else form


def _post(url: str, form: dict[str, str]) -> tuple[int, dict]:
    try:
        answer = httpx.post(url, data=form, timeout=30)
    except httpx.HTTPError as e:
        raise _unreachable(url, e, ISSUER) from None
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"error": f"HTTP {answer.status_code} from {url}, not an OAuth endpoint"}


def _tokens(status: int, body: dict) -> Tokens:
    if status != 200:
        raise Unauthorized(f"the issuer refused: {body.get('error_description') or body.get('error')}")
    return msgspec.convert(body, Tokens, strict=False)


def start_device(endpoints: Endpoints, client_id: str = CLI_CLIENT, *, max_age: int | None = None) -> DeviceStart:
    """A device sign-in begun; `max_age`: how many seconds old the person's sign-in at the issuer may be (older,
    whatever session the approving browser holds there, the issuer asks the password again)."""
    if not endpoints.device_authorization_endpoint:
        raise Unauthorized(f"{endpoints.issuer} offers no device authorization grant: use `vsmesh login --browser`")
    form = {"client_id": client_id, "scope": "openid", **({"max_age": str(max_age)} if max_age is not None else {})}
    status, body = _post(endpoints.device_authorization_endpoint, _for_resource(endpoints, form))
    if status != 200:
        raise Unauthorized(f"the issuer refused a device sign-in: {body.get('error_description') or body.get('error')}")
    return msgspec.convert(body, DeviceStart, strict=False)


def poll_device(
    endpoints: Endpoints,
    started: DeviceStart,
    client_id: str = CLI_CLIENT,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Tokens:
    """Ask the token endpoint every `interval` until the person approved; slower when told (§3.5)."""
    interval = started.interval
    deadline = time.monotonic() + started.expires_in
    form = _for_resource(
        endpoints, {"grant_type": DEVICE_GRANT, "device_code": started.device_code, "client_id": client_id}
    )
    while time.monotonic() < deadline:
        status, body = _post(endpoints.token_endpoint, form)
        error = body.get("error") if status != 200 else None
        if error == "authorization_pending":
            sleep(interval)
        elif error == "slow_down":
            interval += SLOW_DOWN_S
            sleep(interval)
        else:
            return _tokens(status, body)
    raise Unauthorized("nobody approved the sign-in before its code expired: run `vsmesh login` again")


def refresh(endpoints: Endpoints, refresh_token: str, client_id: str = CLI_CLIENT) -> Tokens:
    """New tokens for a refresh token, which the issuer spends (rotation): keep the new one."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return _tokens(*_post(endpoints.token_endpoint, _for_resource(endpoints, form)))


def revoke(endpoints: Endpoints, refresh_token: str, client_id: str = CLI_CLIENT) -> None:
    """Ask the issuer to end the sign-in (RFC 7009); an issuer without the endpoint just lets it expire."""
    if endpoints.revocation_endpoint:
        form = {"token": refresh_token, "token_type_hint": "refresh_token", "client_id": client_id}
        _post(endpoints.revocation_endpoint, form)


@dataclass
class _Callback:
    state: str
    code: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def browser_sign_in(
    endpoints: Endpoints,
    show: Callable[[str], None],
    client_id: str = CLI_CLIENT,
    *,
    max_age: int | None = None,
    timeout_s: float = 300.0,
) -> Tokens:
    """Authorization code with PKCE: `show` gets the URL to open; the code comes back to a one-shot HTTP server
    on 127.0.0.1 (any free port), is checked against the state, and exchanged with the verifier."""
    if not endpoints.authorization_endpoint:
        raise Unauthorized(f"{endpoints.issuer} offers no authorization endpoint: use `vsmesh login --device`")
    verifier = secrets.token_urlsafe(48)
    callback = _Callback(state=secrets.token_urlsafe(16))
    server = http.server.HTTPServer(("127.0.0.1", 0), _handler(callback))
    redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
        "state": callback.state,
        "scope": "openid",
        **({"max_age": str(max_age)} if max_age is not None else {}),
    }
    query = _for_resource(endpoints, query)
    thread = threading.Thread(target=server.serve_forever, name="login-callback", daemon=True)
    thread.start()
    try:
        show(f"{endpoints.authorization_endpoint}?{urllib.parse.urlencode(query)}")
        if not callback.done.wait(timeout_s):
            raise Unauthorized(f"no sign-in came back within {timeout_s:g} s: run `vsmesh login` again")
    finally:
        server.shutdown()
        server.server_close()
    if callback.code is None:
        raise Unauthorized(f"the issuer did not sign you in: {callback.error}")
    form = {
        "grant_type": "authorization_code",
        "code": callback.code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    return _tokens(*_post(endpoints.token_endpoint, _for_resource(endpoints, form)))


def _handler(callback: _Callback) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            if url.path != "/callback" or not secrets.compare_digest(params.get("state", ""), callback.state):
                self._answer(400, "This is not the sign-in this terminal started.")
                return
            callback.code, callback.error = params.get("code"), params.get("error", "no code")
            callback.done.set()
            self._answer(200, "Signed in. You may close this page and return to your terminal.")

        def _answer(self, status: int, text: str) -> None:
            body = f'<!doctype html><meta charset="utf-8"><title>vsmesh</title><p>{text}</p>'.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # the terminal shows the CLI's lines only
            pass

    return Handler
