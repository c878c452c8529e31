"""`POST /hooks/{source}/{name}`: a delivery verified, translated, deduplicated and published.

Nothing is published before the request proves it comes from the hook's source; a refusal is one log line (the
reason, never the secret), a JSON answer naming the problem, and `vsmesh_hook_refused_total{source,reason}` on
/metrics. The events' actor is the hook's service identity, proven at the gateway's issuer (service_identity.py)
the first time the hook is used, never a name the request gives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog
from nats.aio.client import Client
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vsmesh.bus.publisher import Published, Publisher
from vsmesh.errors import ConfigError, InvalidEvent, PublishError
from vsmesh.events.governance import ADMIN_ONLY_TYPES
from vsmesh.gateway.identity.config import GatewayConfig
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.identity.service_identity import service_identity
from vsmesh.hubs.vocabulary import VOCABULARIES
from vsmesh.settings import Settings
from vsmesh.sources.hooks.seen import Seen
from vsmesh.sources.hooks.source import HookRefused, Proposed, malformed
from vsmesh.sources.hooks.sources import SOURCES
from vsmesh.sources.hooks.store import Hook, Hooks

log = structlog.get_logger(__name__)

REFUSED = Counter("vsmesh_hook_refused", "webhook deliveries refused, nothing stored", ["source", "reason"])
EVENTS = Counter("vsmesh_hook_events", "events from webhook deliveries", ["source", "outcome"])
BODY_LIMIT_EVENTS = 4  # a delivery may carry a few events' worth of JSON (Alertmanager groups alerts)


@dataclass
class HookEndpoint:
    """The route's state: the hooks file, each hook's proven identity and publisher, the seen ledger."""

    nc: Client
    settings: Settings
    gateway: GatewayConfig
    hooks: Hooks = field(init=False)
    seen: Seen = field(init=False)
    _publishers: dict[tuple[str, float], Publisher] = field(default_factory=dict, init=False)
    _proving: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self.hooks = Hooks(self.settings.data_dir)
        self.seen = Seen(self.nc.jetstream(), replicas=self.settings.replicas or 1)

    def routes(self) -> list[Route]:
        return [Route("/hooks/{source}/{name}", self.receive, methods=["POST"])]

    async def receive(self, request: Request) -> Response:
        source_name, name = request.path_params["source"], request.path_params["name"]
        label = source_name if source_name in SOURCES else "unknown"
        hook = self.hooks.get(source_name, name) if label != "unknown" else None
        context = {"source": source_name, "hook": name}
        try:
            if hook is None:
                raise HookRefused(
                    f"no hook {source_name}/{name}; `vsmesh hook add {source_name} {name}` registers it",
                    status=404, reason="unknown_hook",
                )  # fmt: skip
            body = await self._body(request)
            source = SOURCES[hook.source]
            source.verify(hook, request.headers, body)
            translated = source.translate(hook, request.headers, body)
        except HookRefused as e:
            REFUSED.labels(label, e.reason).inc()
            log.warning("hook delivery refused", **context, status=e.status, reason=e.reason, error=str(e))
            return JSONResponse({"error": str(e)}, status_code=e.status)
        context["delivery"] = translated.delivery
        if not translated.events:
            log.info("hook delivery ignored", **context, ignored=translated.ignored)
            return JSONResponse({"stored": 0, "duplicates": 0, "ignored": translated.ignored}, status_code=202)
        try:
            stored, duplicates = await self._publish(hook, translated.events)
        except HookRefused as e:
            REFUSED.labels(label, e.reason).inc()
            log.warning("hook delivery refused", **context, status=e.status, reason=e.reason, error=str(e))
            return JSONResponse({"error": str(e)}, status_code=e.status)
        except (ConfigError, PublishError) as e:  # the source retries a 5xx: nothing was lost
            log.error("hook delivery not stored", **context, error=str(e))
            return JSONResponse({"error": f"not stored, send again: {e}"}, status_code=503)
        EVENTS.labels(hook.source, "stored").inc(len(stored))
        EVENTS.labels(hook.source, "duplicate").inc(len(duplicates))
        log.info("hook delivery stored", **context, stored=len(stored), duplicates=len(duplicates))
        return JSONResponse({"stored": len(stored), "duplicates": len(duplicates), "events": stored + duplicates})

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_event_bytes * BODY_LIMIT_EVENTS
        if int(request.headers.get("content-length") or 0) > limit:
            raise HookRefused(f"the body is over {limit} bytes", status=413, reason="too_large")
        body = await request.body()
        if len(body) > limit:
            raise HookRefused(f"the body is over {limit} bytes", status=413, reason="too_large")
        return body

    async def _publish(self, hook: Hook, proposed: list[Proposed]) -> tuple[list[str], list[str]]:
        """Publish what the ledger has not seen; returns (stored ids, duplicate ids)."""
        unique = list({p.event_id: p for p in proposed}.values())
        for p in unique:
            _check_type(p)
        already = await self.seen.which([p.event_id for p in unique])
        publisher = await self._publisher(hook)
        try:
            events = [
                publisher.build(p.event_type, hub=p.hub, subject=p.subject, data=p.data, event_id=p.event_id)
                for p in unique
                if p.event_id not in already
            ]
        except InvalidEvent as e:
            raise malformed(str(e)) from None
        published: list[Published] = await publisher.publish_many(events) if events else []
        stored = {p.event_id: f"{p.stream}:{p.sequence}" for p in published if not p.duplicate}
        await self.seen.record({p.event_id: f"{p.stream}:{p.sequence}" for p in published})
        return list(stored), [p.event_id for p in unique if p.event_id not in stored]

    async def _publisher(self, hook: Hook) -> Publisher:
        """The hook's publisher, acting as its service identity (proven once per hook and process)."""
        key = (hook.key, hook.created_at)
        if key not in self._publishers:
            async with self._proving:
                if key not in self._publishers:
                    principal = await service_identity(self.gateway, hook.actor, register=True)
                    self._publishers[key] = self._publisher_for(hook, principal)
        return self._publishers[key]

    def _publisher_for(self, hook: Hook, principal: Principal) -> Publisher:
        acting = self.settings.model_copy(update={"actor": principal.subject, "actor_kind": principal.kind})
        return Publisher(self.nc.jetstream(), acting, source=f"vsmesh/hooks/{hook.source}/{hook.name}")


def _check_type(proposed: Proposed) -> None:
    """A hook publishes on the mesh's own connection: it must never carry a governance event, nor a type its hub
    does not declare (the contract's rule, hubs/contract.py)."""
    if proposed.event_type in ADMIN_ONLY_TYPES:
        raise HookRefused(
            f"{proposed.event_type} is a governance event: only the mesh's administrators publish it",
            status=403, reason="governance",
        )  # fmt: skip
    refusal = VOCABULARIES.refusal(proposed.hub, proposed.event_type)
    if refusal:
        raise HookRefused(refusal, status=400, reason="undeclared")


def hook_routes(nc: Client, settings: Settings, gateway: GatewayConfig) -> list[Route]:
    """The webhook endpoint `vsmesh up`'s gateway mounts."""
    return HookEndpoint(nc, settings, gateway).routes()
