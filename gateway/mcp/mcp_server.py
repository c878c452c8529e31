"""The gateway's MCP server: every hub's contract as tools, mandates enforced, every call attributable.

`mcp_app(settings, nc, authenticate)` returns Starlette routes (the streamable HTTP endpoint at `/mcp`) and
the lifespan that must run around them; gateway/app.py adds both to the gateway's application. Each HTTP
request is authenticated first (`authenticate`: the SDK's bearer authentication over the OIDC verifier,
gateway/identity/resource.py): a request without a verified identity gets 401 and reaches neither the MCP
session nor NATS, and a session is served only to the identity that opened it. Then a tool call

1. is refused if its arguments set `actor`, `actor_kind`, `correlation_id` or `causation_id` (the gateway sets
   them), and if only a person may call the operation (`Operation.callers`: deciding an approval) and the
   caller is no person;
2. is decided by canon-hub's mandates (gateway/mcp/mandates.py; delegation chains included); a refusal is a tool
   error naming the missing mandate, and a `canon-call-refused` event with the caller as actor;
3. is refused past a cap of the mandate chain (gateway/mcp/caps.py), with a `canon-call-refused` saying which;
4. is held for a person if an approve condition of the chain holds (gateway/mcp/held_calls.py): the answer
   names the approval, and the gateway runs exactly those arguments once a person approves;
5. goes to the hub's contract over NATS as the verified principal (actor = token subject, actor_kind =
   its kind); a write also carries the session's correlation id and `metadata.via = "mcp"`.

Sessions: on the 2025 wire (initialize handshake) a session is the `Mcp-Session-Id`; the 2026-07-28 wire is
stateless, so a session there is one access token (a hash of it is the correlation id, never the token).
Tools change while the gateway runs (a hub bootstrapped from a manifest): the gateway follows the registry's
events and tells clients with `notifications/tools/list_changed` on their `subscriptions/listen` streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal, InvalidOperation
from typing import Any

import mcp_types as types
import msgspec
import structlog
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.server.transport_security import TransportSecuritySettings
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from vsmesh import __version__
from vsmesh.bus.buckets import open_bucket
from vsmesh.bus.contract_client import ask
from vsmesh.bus.creds import GATEWAY_BUCKET
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import ContractError, Unauthorized
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.identity.resource import BearerAuth, caller
from vsmesh.gateway.mcp.cap_store import CapStore
from vsmesh.gateway.mcp.caps import CapMeter, Spend
from vsmesh.gateway.mcp.held_calls import HeldCalls
from vsmesh.gateway.mcp.mandates import CANON_HUB, MandateFollower
from vsmesh.gateway.mcp.run_claims import RunClaims
from vsmesh.gateway.mcp.tools import GATEWAY_FIELDS, Tool, catalog
from vsmesh.settings import GATEWAY_MCP_PATH, Settings

log = structlog.get_logger(__name__)

MCP_PATH = GATEWAY_MCP_PATH
REGISTRY_SUBJECT = f"constitutional.{REGISTRY_HUB}.>"
INSTRUCTIONS = (
    "vsmesh: an organisation's hubs (ops, dev, fin, canon and hubs made from manifests). Tools are named "
    "HUB__OPERATION. Start with registry__list_hubs and HUB__get_domain_summary. Every write is recorded with "
    "your identity; agents act only within their canon-hub mandates (canon-hub__get_mandates shows yours)."
)


def _encode(value: Any) -> bytes:
    return msgspec.json.encode(value, enc_hook=str)


class Gateway:
    """The MCP server's state: the tool catalog, the mandate book, and the NATS client that reaches the hubs."""

    def __init__(self, settings: Settings, nc: Client) -> None:
        self.settings = settings
        self.nc = nc
        self.js = nc.jetstream()
        self.mandates = MandateFollower(self.js)
        self.meter = CapMeter()
        self.kv: KeyValue | None = None  # the gateway's bucket, once running
        self.caps: CapStore | None = None
        self.held = HeldCalls(self)
        self.tools: dict[str, Tool] = catalog([])
        self.bus = InMemorySubscriptionBus()
        self.publisher = Publisher(self.js, settings, source="vsmesh/gateway")
        self._registry: StreamReader | None = None
        self._follow: asyncio.Task | None = None

    # --- the catalog follows the registry

    async def refresh_tools(self, wait_for_seq: int | None = None) -> bool:
        """Rebuild the catalog from the registry's `list_hubs`; true (and clients told) when it changed."""
        request = {"wait_for_seq": {"CONSTITUTIONAL": wait_for_seq}} if wait_for_seq else {}
        answer = await ask(self.nc, REGISTRY_HUB, "list_hubs", request)
        served = [h for h in answer["hubs"] if h.get("active_manifest")]
        tools = catalog(served)
        if tools.keys() == self.tools.keys():
            return False
        self.tools = tools
        log.info("tools changed", tools=len(tools))
        await self.bus.publish(ToolsListChanged())
        return True

    async def _follow_registry(self) -> None:
        assert self._registry is not None
        while True:
            batch = await self._registry.batch(100, 0.05, timeout=None)
            if not batch:
                continue
            seq = batch[-1].metadata.sequence.stream
            while True:
                try:
                    await self.refresh_tools(seq)
                    break
                except ContractError as e:  # the registry is behind or restarting: the next second will do
                    log.warning("tool catalog not refreshed", error=str(e))
                    await asyncio.sleep(1.0)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Follow canon's mandates and the registry while the gateway serves; answer only once both are read
        and the caps' counts of before a restart are back."""
        config = KeyValueConfig(bucket=GATEWAY_BUCKET, history=1, storage=StorageType.FILE)
        self.kv = await open_bucket(self.js, config)
        self.caps = CapStore(self.kv, self.meter)
        self.held.claims = RunClaims(self.js, self.kv)
        kept = await self.caps.load()
        log.info("cap counts loaded", mandates=kept)
        await self.mandates.start()
        self._registry = StreamReader(self.js, "CONSTITUTIONAL", REGISTRY_SUBJECT, Start(new_only=True))
        await self._registry.__aenter__()
        try:
            await self.refresh_tools()
        except ContractError as e:  # no registry answering yet: coded hubs only, until its first event
            log.warning("registry not answering; serving the coded hubs' tools", error=str(e))
        self._follow = asyncio.create_task(self._follow_registry(), name="gateway-registry-follower")
        await self.mandates.hand_over_to(self.held.run)  # approvals decided while the gateway was down, too
        try:
            yield self
        finally:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
            await self._registry.__aexit__(None, None, None)
            await self.mandates.stop()
            await self.caps.flush()

    # --- calls

    async def call(self, who: Principal, session: str, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        tool = self.tools.get(name)
        if tool is None:
            return _error(f"no tool {name!r}: tools are named HUB__OPERATION; list them with tools/list")
        forged = sorted(GATEWAY_FIELDS & arguments.keys())
        if forged:
            reason = (
                f"refused: {', '.join(forged)} cannot be set by a caller; the gateway records your verified "
                "identity and session itself — call again without them"
            )
            await self.refused(who, session, tool, reason, None)
            return _error(reason)
        if tool.callers == "people" and who.kind != "human":
            reason = (
                f"refused: only a person may call {tool.name}, never an agent or a service (not for its own "
                "request, nor for anyone's); ask a person to decide it"
            )
            await self.refused(who, session, tool, reason, None)
            return _error(reason)
        if tool.callers == "everyone" or who.kind == "human":
            return await self._answer(who, session, tool, arguments)
        if not self.mandates.following:  # fail closed rather than decide on a stale book
            return _error("refused: the gateway is not following canon-hub's mandates right now; try again shortly")
        now = dt.datetime.now(dt.UTC)
        decision = self.mandates.book.decide(who, tool.hub, tool.operation, tool.write, now)
        if not decision.allowed:
            await self.refused(who, session, tool, decision.reason, decision.missing)
            return _error(f"refused: missing mandate {decision.missing}: {decision.reason}")
        spend = self.spend_of(tool, arguments)
        cap = self.meter.refusal(decision.chain, spend, now, count_call=True)
        if cap is not None:
            await self.refused(who, session, tool, cap, None)
            return _error(f"refused: {cap}")
        self.meter.count_call(decision.chain)
        assert self.caps is not None
        condition = decision.approval_needed(tool.hub, tool.operation, tool.write, arguments)
        if condition is not None:
            self.caps.counted(decision.chain)
            return await self.held.hold(who, session, tool, arguments, decision, condition)
        if spend is None:  # its call counted within a moment (cap_store.py), nobody waiting
            self.caps.counted(decision.chain)
            return await self._answer(who, session, tool, arguments)
        # Charged before it runs, so calls at the same moment cannot pass the cap together; given back if it fails.
        self.meter.charge(decision.chain, spend, now)
        # Stored beside the call's own round trip, not after it: in the bucket before the answer leaves.
        result, _ = await asyncio.gather(self._answer(who, session, tool, arguments), self.caps.stored(decision.chain))
        if result.is_error:
            self.meter.charge(decision.chain, spend, now, sign=-1)
            self.caps.counted(decision.chain)
        return result

    async def _answer(
        self, who: Principal, session: str, tool: Tool, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        try:
            answer = await self.forward(who, session, tool, arguments)
        except ContractError as e:
            return _error(f"{tool.hub} answered {e.code}: {e}")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_encode(answer).decode())],
            structured_content=answer if isinstance(answer, dict) else {"result": answer},
        )

    async def forward(
        self,
        who: Principal,
        session: str,
        tool: Tool,
        arguments: dict[str, Any],
        *,
        causation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> Any:
        """Ask the hub's contract as the verified caller; a write carries the session and `via = "mcp"`."""
        request = dict(arguments)
        if tool.write:  # reads take no actor: they change nothing and are not events
            given = arguments.get("metadata") if isinstance(arguments.get("metadata"), dict) else {}
            request["metadata"] = {**given, **(metadata or {}), "via": "mcp", "mcp_session": session}
            request.update(actor=who.subject, actor_kind=who.kind, correlation_id=session)
            if causation_id is not None:
                request["causation_id"] = causation_id
            if event_id is not None:
                request["event_id"] = event_id
        return await ask(self.nc, tool.hub, tool.operation, request)

    @staticmethod
    def spend_of(tool: Tool, arguments: dict[str, Any]) -> Spend | None:
        """What a call spends (the argument its operation names as money, in its currency), for spend caps."""
        if tool.spends is None or tool.spends not in arguments:
            return None
        try:
            amount = Decimal(str(arguments[tool.spends]))
        except InvalidOperation:
            return None  # the hub refuses it as invalid: nothing is spent
        field = tool.request.model_fields.get("currency")
        return Spend(amount, str(arguments.get("currency") or (field.default if field else "")))

    async def publish_as(
        self, who: Principal, event_type: str, subject: str, data: dict[str, Any], session: str, **ids: Any
    ) -> Event:
        """A canon-hub event of the gateway's own whose actor is the caller it concerns."""
        event = self.publisher.build(
            event_type, hub=CANON_HUB, subject=subject, data=data, correlation_id=session, **ids
        )
        event = msgspec.structs.replace(event, actor=who.subject, actorkind=who.kind)
        await self.publisher.publish(event)
        return event

    async def refused(self, who: Principal, session: str, tool: Tool, reason: str, missing: str | None) -> None:
        """The attempt on the log: a `canon-call-refused` event whose actor is the caller."""
        data = {
            "hub": tool.hub,
            "operation": tool.operation,
            "access": "write" if tool.write else "read",
            "reason": reason,
            "missing_mandate": missing,
            "metadata": {"via": "mcp", "mcp_session": session},
        }
        await self.publish_as(who, "canon-call-refused", f"actor/{who.subject}", data, session)
        log.info("call refused", actor=who.subject, kind=who.kind, tool=tool.name, missing=missing)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _caller(ctx: Any) -> tuple[Principal, str]:
    """The verified caller of a tool call and its session (the HTTP request that carried it)."""
    request: Request | None = ctx.request
    who = caller(request.scope) if request is not None else None
    if who is None:  # only an unauthenticated transport could get here, and the gateway mounts none
        raise Unauthorized("no verified identity on this request")
    return who, session_of(request)


def mcp_server(gateway: Gateway) -> Server:
    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[t.mcp for t in gateway.tools.values()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        who, session = _caller(ctx)
        return await gateway.call(who, session, params.name, dict(params.arguments or {}))

    def tool_schema(name: str) -> dict[str, Any] | None:
        # Only a schema with an `x-mcp-header` has `Mcp-Param-*` headers to check: for any other the SDK would walk
        # the whole schema on every call with arguments (~0.2 ms of a write's CPU) to find none.
        tool = gateway.tools.get(name)
        return tool.mcp.input_schema if tool is not None and tool.param_headers else None

    return Server(
        "vsmesh",
        version=__version__,
        instructions=INSTRUCTIONS,
        # Without it the SDK runs tools/list on every call to check `Mcp-Param-*` headers.
        get_tool_input_schema=tool_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(gateway.bus),
    )


def session_of(request: Request) -> str:
    """The correlation id of the caller's MCP session (see the module's docstring)."""
    found = request.headers.get("mcp-session-id")
    if found:
        return f"mcp-{found}"
    token = request.headers.get("authorization", "")
    return "mcp-" + hashlib.sha256(token.encode()).hexdigest()[:32]


LOOPBACK = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


def mcp_app(
    settings: Settings, nc: Client, authenticate: BearerAuth, *, security: TransportSecuritySettings = LOOPBACK
) -> tuple[list[BaseRoute], Callable[[Any], AbstractAsyncContextManager[None]]]:
    """(routes, lifespan): the streamable HTTP endpoint at `/mcp` and what must run around it."""
    gateway = Gateway(settings, nc)
    server = mcp_server(gateway)
    # A tool call's answer is one JSON body rather than an SSE stream: less work per call on both sides
    # (`subscriptions/listen` streams regardless). No OpenTelemetry span per message: nothing exports them.
    server.middleware = []
    manager = StreamableHTTPSessionManager(app=server, security_settings=security, json_response=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with gateway.running(), manager.run():
            yield

    routes: list[BaseRoute] = [Route(MCP_PATH, endpoint=authenticate.protect(StreamableHTTPASGIApp(manager)))]
    lifespan.gateway = gateway  # type: ignore[attr-defined]  # tests and the bench reach the mandate book
    return routes, lifespan
