"""The gateway's one ASGI app: protected-resource metadata, the local issuer, /whoami, /healthz, and what others
mount (the MCP server, the pages).

app = create_app(config, routes=[*mcp_routes, *pages_routes], lifespan=mcp_lifespan, verifier=verifier)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, request_response

from vsmesh.errors import Unauthorized
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.issuer import Issuer
from vsmesh.gateway.identity.resource import authenticate, caller, protected_resource_routes, unauthorized
from vsmesh.gateway.identity.verify import TokenVerifier

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


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

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def whoami(request: Request) -> JSONResponse:
        """Who the gateway takes the caller for: what a token proves, for an agent checking its setup."""
        principal = caller(request.scope)
        return JSONResponse(msgspec.to_builtins(principal), headers={"Cache-Control": "no-store"})

    built: list[BaseRoute] = [
        Route("/whoami", authenticate(verifier).protect(request_response(whoami)), methods=["GET"]),
        *protected_resource_routes(config.audience, config.issuer),
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

    # /healthz last: `vsmesh up` mounts its own (gateway/pages/metrics.py); this one serves an app without it.
    app = Starlette(
        routes=[*built, *routes, Route("/healthz", healthz)],
        exception_handlers={Unauthorized: _unauthorized},
        lifespan=lifespan_of,
    )
    app.state.config = config
    app.state.verifier = verifier
    app.state.issuer = issuer
    return app


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    """A route that found no verified identity: the same 401 as the bearer authentication's."""
    assert isinstance(exc, Unauthorized)
    return unauthorized(exc)
