"""`vsmesh mcp --stdio`: a local MCP server on stdin/stdout that forwards every request to the HTTP gateway.

The bridge holds no NATS credentials and decides nothing: it presents the agent's bearer token (a given one,
or one it gets and renews from the agent's credentials file, `gateway/identity/agent_token.py`) to the gateway, which
authenticates, checks mandates and records every call exactly as for a client on HTTP — one governed path.
Tool-list changes the gateway announces are passed on to the local client.
"""

from __future__ import annotations

import sys
from collections.abc import Generator

import anyio
import httpx2
import mcp_types as types
import structlog
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler

from vsmesh import __version__
from vsmesh.errors import Unauthorized

log = structlog.get_logger(__name__)


def _bridge_server(upstream: Client, bus: InMemorySubscriptionBus) -> Server:
    async def list_tools(ctx: object, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return await upstream.list_tools(cursor=params.cursor if params else None)

    async def call_tool(ctx: object, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await upstream.call_tool(params.name, params.arguments)

    return Server(
        "vsmesh",
        version=__version__,
        instructions=upstream.instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(bus),
    )


async def _forward_changes(upstream: Client, bus: InMemorySubscriptionBus) -> None:
    async with upstream.listen(tools_list_changed=True) as changes:
        async for event in changes:
            await bus.publish(event)


class Bearer(httpx2.Auth):
    """A token given as it is: the bridge cannot renew it."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


async def bridge(url: str, auth: httpx2.Auth) -> None:
    """Serve MCP on stdio until stdin closes, forwarding to the gateway's MCP endpoint `url` as `auth` proves."""
    refused: list[int] = []

    async def watch(response: httpx2.Response) -> None:  # the SDK reports a 401 as a generic error
        if response.status_code in (401, 403):
            refused.append(response.status_code)

    hooks = {"response": [watch]}
    async with httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=300), event_hooks=hooks) as http:
        try:
            upstream = Client(streamable_http_client(url, http_client=http), cache=None)
            await upstream.__aenter__()
        except Exception as e:  # noqa: BLE001 - one line for the person who started the bridge, not a traceback
            if refused:
                raise Unauthorized(f"the gateway at {url} refused the token ({refused[0]}): get a fresh one") from None
            raise ConnectionError(f"cannot reach the MCP gateway at {url}: {_reason(e)}") from None
        try:
            bus = InMemorySubscriptionBus()
            server = _bridge_server(upstream, bus)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_forward_changes, upstream, bus)
                async with stdio_server() as (read, write):
                    options = server.create_initialization_options(NotificationOptions(tools_changed=True))
                    await server.run(read, write, options)
                tg.cancel_scope.cancel()
        finally:
            await upstream.__aexit__(*sys.exc_info())


def _reason(e: BaseException) -> str:
    """The innermost message of an SDK error (it arrives wrapped in exception groups)."""
    while getattr(e, "exceptions", None):
        e = e.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(e).__name__}: {e}"
