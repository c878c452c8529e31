"""The gateway's one ASGI app: protected-resource metadata, the local issuer, /healthz, and what others mount.

app = create_app(config, routes=[Mount("/mcp", ...)])   # more routes: the MCP server, pages
principal = await app.state.authenticate(request)        # raises Unauthorized -> 401 + WWW-Authenticate
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from vsmesh.errors import Unauthorized
from vsmesh.gateway.clients import Clients
from vsmesh.gateway.issuer import Issuer, IssuerConfig
from vsmesh.gateway.verify import TokenVerifier, authenticate
from vsmesh.settings import Settings


@dataclass(frozen=True)
class GatewayConfig:
    url: str  # where this gateway answers, e.g. http://127.0.0.1:8471
    issuer: str  # the OIDC issuer whose tokens it accepts
    audience: str  # the `aud` its tokens must carry: this gateway's resource URL
    data_dir: Path
    token_ttl_s: int
    local_issuer: bool  # serve the issuer here (no VSMESH_OIDC_ISSUER)

    @classmethod
    def of(cls, settings: Settings, url: str) -> GatewayConfig:
        url = url.rstrip("/")
        return cls(
            url=url,
            issuer=(settings.oidc_issuer or url).rstrip("/"),
            audience=settings.oidc_audience or url,
            data_dir=settings.data_dir.resolve(),
            token_ttl_s=settings.token_ttl_s,
            local_issuer=settings.oidc_issuer is None,
        )

    def issuer_config(self) -> IssuerConfig:
        return IssuerConfig(
            issuer=self.issuer, audience=self.audience, data_dir=self.data_dir, token_ttl_s=self.token_ttl_s
        )


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def make_verifier(config: GatewayConfig) -> TokenVerifier:
    """The verifier of this gateway's tokens; a token without `actor_kind` is an agent's if `vsmesh agent add`
    registered its client."""
    return TokenVerifier(
        config.issuer, config.audience, gateway_url=config.url, is_agent_client=Clients(config.data_dir).is_agent
    )


def create_app(
    config: GatewayConfig,
    routes: Sequence[BaseRoute] = (),
    lifespan: Lifespan | None = None,
    verifier: TokenVerifier | None = None,
) -> Starlette:
    """The gateway app; `routes` are mounted after the built-in ones (the MCP server, pages), and `lifespan`
    runs inside the app's own (e.g. the MCP session manager). Pass the `verifier` the routes authenticate
    with (`authenticate(verifier)`), so the app closes it; one is made when they need none."""
    verifier = verifier or make_verifier(config)

    async def protected_resource(request: Request) -> JSONResponse:
        """RFC 9728: which issuer's tokens this resource takes, so an MCP client knows where to get one."""
        return JSONResponse(
            {
                "resource": config.audience,
                "authorization_servers": [config.issuer],
                "bearer_methods_supported": ["header"],
                "resource_name": "vsmesh gateway",
            }
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def whoami(request: Request) -> JSONResponse:
        """Who the gateway takes the caller for: what a token proves, for an agent checking its setup."""
        principal = await app.state.authenticate(request)
        return JSONResponse(msgspec.to_builtins(principal), headers={"Cache-Control": "no-store"})

    built: list[BaseRoute] = [
        Route("/whoami", whoami),
        Route("/.well-known/oauth-protected-resource", protected_resource),
        # RFC 9728 §3.1: a client of `<url>/mcp` asks `/.well-known/oauth-protected-resource/mcp`.
        Route("/.well-known/oauth-protected-resource/{path:path}", protected_resource),
    ]
    issuer = Issuer(config.issuer_config()) if config.local_issuer else None
    if issuer is not None:
        built += issuer.routes()

    @contextlib.asynccontextmanager
    async def lifespan_of(app: Starlette) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await verifier.aclose()

    # /healthz last: `vsmesh up` mounts its own (gateway/metrics.py); this one serves an app without it.
    app = Starlette(
        routes=[*built, *routes, Route("/healthz", healthz)],
        exception_handlers={Unauthorized: _unauthorized},
        lifespan=lifespan_of,
    )
    app.state.config = config
    app.state.verifier = verifier
    app.state.authenticate = authenticate(verifier)
    app.state.issuer = issuer
    return app


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unauthorized)
    body = {"error": "invalid_token" if "error=" in exc.challenge else "unauthorized", "error_description": str(exc)}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": exc.challenge})
