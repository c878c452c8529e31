"""The gateway as an OAuth 2.1 protected resource, built from the MCP SDK's parts: its RFC 9728 metadata route
names the issuer, and its BearerAuthBackend, over our verifier (verify.py) in Starlette's
AuthenticationMiddleware, stands in front of what only a verified caller may reach (/mcp, /whoami).

    routes = protected_resource_routes(config.audience, config.issuer)
    bearer = authenticate(verifier)
    Route("/mcp", bearer.protect(endpoint))   # inside: caller(scope) is the verified Principal

The 401 is ours, not the SDK's RequireAuthMiddleware's: that one always says `error="invalid_token",
error_description="Authentication required"`, even to a request that sent no token (RFC 6750 §3.1 wants no
error code then), names the metadata last, and cannot say why a token was refused. Ours names the metadata
first and, for a refused token, the verifier's reason.
"""

from __future__ import annotations

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.routes import create_protected_resource_routes
from pydantic import ValidationError
from starlette.authentication import AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vsmesh.errors import ConfigError, Unauthorized
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.identity.verify import TokenVerifier, VerifiedToken

METADATA_PATH = "/.well-known/oauth-protected-resource"
RESOURCE_NAME = "vsmesh gateway"


def protected_resource_routes(resource: str, issuer: str) -> list[Route]:
    """RFC 9728: which issuer's tokens this resource takes, so an MCP client knows where to get one. The SDK's
    route, served where the 401s point (the root's) and below it for any resource path (§3.1: a client of
    `<url>/mcp` asks `/.well-known/oauth-protected-resource/mcp`)."""
    try:
        # As strings: the SDK's model keeps a URL without a path as it is (no trailing slash added).
        [sdk] = create_protected_resource_routes(
            resource_url=resource, authorization_servers=[issuer], resource_name=RESOURCE_NAME
        )
    except ValidationError:
        raise ConfigError(
            f"the gateway's audience {resource!r} and issuer {issuer!r} must be http(s) URLs (RFC 9728 names a"
            " resource by its URL): set VSMESH_OIDC_AUDIENCE and VSMESH_OIDC_ISSUER to URLs"
        ) from None
    methods = ["GET", "OPTIONS"]  # OPTIONS: the SDK's CORS answers a browser client's preflight
    return [Route(path, sdk.endpoint, methods=methods) for path in (METADATA_PATH, METADATA_PATH + "/{path:path}")]


class BearerAuth:
    """Bearer authentication over a verifier: the SDK's backend finds the token and has it verified."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        # No `resource_server_url`: the verifier checks the audience itself, whatever VSMESH_OIDC_AUDIENCE names.
        self.backend = BearerAuthBackend(verifier)

    def protect(self, app: ASGIApp) -> ASGIApp:
        """`app` for verified callers only, with the SDK's AuthenticatedUser in `scope["user"]` (the SDK's MCP
        session manager binds a session to it); anyone else gets a 401 pointing at the metadata."""
        return AuthenticationMiddleware(_Required(app, self.verifier), backend=self.backend, on_error=self._refused)

    def _refused(self, conn: HTTPConnection, exc: AuthenticationError) -> JSONResponse:
        """AuthenticationMiddleware's answer to a token the verifier refused (verify.InvalidToken)."""
        if not isinstance(exc, Unauthorized):  # only the verifier raises these; of another, say no more than this
            exc = self.verifier.refuse("not accepted")
        return unauthorized(exc)


def authenticate(verifier: TokenVerifier) -> BearerAuth:
    """The gateway's bearer authentication: the caller of a request, from its bearer token and nothing else."""
    return BearerAuth(verifier)


def caller(scope: Scope) -> Principal | None:
    """The verified caller of a request `BearerAuth.protect` let through; None for any other."""
    user = scope.get("user")
    token = user.access_token if isinstance(user, AuthenticatedUser) else None
    return token.principal if isinstance(token, VerifiedToken) else None


class _Required:
    """ASGI: the request goes on only with a verified caller; without a bearer token, a 401 with no error code."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app, self.verifier = app, verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if caller(scope) is not None:
            await self.app(scope, receive, send)
            return
        missing = Unauthorized("no bearer token: send Authorization: Bearer <access token>", self.verifier.challenge())
        await unauthorized(missing)(scope, receive, send)


def unauthorized(exc: Unauthorized) -> JSONResponse:
    """401 with the challenge; the body says the same for a client that reads bodies."""
    body = {"error": "invalid_token" if "error=" in exc.challenge else "unauthorized", "error_description": str(exc)}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": exc.challenge})
