"""What `vsmesh up` starts of the gateway: one app on loopback (identity, /metrics and health, MCP, the pages),
stopped with the rest of the mesh by the caller's exit stack."""

from __future__ import annotations

import contextlib

from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.connection import connect
from vsmesh.bus.creds import GATEWAY_USER, load_creds
from vsmesh.gateway.app import create_app
from vsmesh.gateway.governance import GovernanceWrites, SignChain
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.resource import authenticate
from vsmesh.gateway.identity.signin import SignIn
from vsmesh.gateway.mcp.mcp_server import mcp_app
from vsmesh.gateway.pages.live import AppliedFeed
from vsmesh.gateway.pages.metrics import MeshHealth, metrics_routes
from vsmesh.gateway.pages.web import Pages
from vsmesh.gateway.people import PeopleWrites
from vsmesh.gateway.server import Served, bind, serve, url_of
from vsmesh.settings import Settings
from vsmesh.sources.hooks.endpoint import hook_routes


async def serve_gateway(
    stack: contextlib.AsyncExitStack,
    nc: Client,
    engine: AsyncEngine,
    settings: Settings,
    health: MeshHealth,
    *,
    embedded_nats: bool,
    remembered_port: int | None,
    sign_chain: SignChain | None = None,
) -> tuple[Served, GatewayConfig]:
    """Serve the gateway, on the port it had before when it is free (clients keep their URL across restarts);
    `sign_chain`: how the mesh signs its chain, which the gateway does for a person (governance.py)."""
    feed = AppliedFeed(nc)
    await feed.start()
    stack.push_async_callback(feed.stop)
    sock = bind(settings.gateway_host, settings.gateway_port, remembered_port)
    config = GatewayConfig.of(settings, url_of(sock))  # the issuer names itself by the URL it answers on
    verifier = make_verifier(config)
    mcp_routes, mcp_lifespan = mcp_app(
        settings, await _own_connection(stack, nc, settings, embedded_nats), authenticate(verifier)
    )
    # The pages last: their `/{slug}` route would take any path before it.
    # People sign in to the pages with the same issuer and verifier (gateway/identity/signin.py).
    sign_in = SignIn(config.issuer, verifier, local_issuer=config.local_issuer)
    writes = PeopleWrites(nc, settings, authenticate(verifier))  # a person's writes, as the mesh (people.py)
    people = [*writes.routes(), *GovernanceWrites(writes, engine, sign_chain).routes()]
    # Webhooks publish as each hook's service identity on the mesh's own connection (sources/hooks/endpoint.py).
    hooks = hook_routes(nc, settings, config)
    routes = [*metrics_routes(health), *mcp_routes, *people, *hooks, *Pages(nc, feed, engine, sign_in).routes()]
    served = await serve(create_app(config, routes, lifespan=mcp_lifespan, verifier=verifier), sock)
    stack.push_async_callback(served.stop)
    return served, config


async def _own_connection(stack: contextlib.AsyncExitStack, nc: Client, settings: Settings, embedded_nats: bool):
    """The MCP server's NATS connection: the `gateway` user (contract requests, no events but its refusals)
    on the embedded nats-server; on external NATS, the connection `vsmesh up` was given."""
    creds = load_creds(settings.data_dir, GATEWAY_USER) if embedded_nats else None
    if creds is None:
        return nc
    own = await connect(
        settings.model_copy(update={"nats_user": creds.user, "nats_password": creds.password}), name="vsmesh-gateway"
    )
    stack.push_async_callback(_drain, own)
    return own


async def _drain(nc: Client) -> None:
    with contextlib.suppress(Exception):
        await nc.drain()
