"""`POST /hooks/{source}/{name}`: a delivery verified, translated, deduplicated and published.

Nothing is published before the request proves it comes from the hook's source; a refusal is one log line (the
reason, never the secret), a JSON answer naming the problem, and `vsmesh_hook_refused_total{source,reason}` on
/metrics. The events' actor is the hook's service identity, proven at the gateway's issuer (service_identity.py)
the first time the hook is used, never a name the request gives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import NamedTuple

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


class Outcome(NamedTuple):
    """A delivery's events: ids stored now, ids stored before, and per stream the highest sequence published (a
    sender may wait for a hub to have applied it, as a script waits after `vsmesh publish`)."""

    stored: list[str]
    duplicates: list[str]
    seq: dict[str, int]


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
        self.seen = Seen(self.nc, replicas=self.settings.replicas or 1)

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
            return _refused(label, context, e)
        context["delivery"] = translated.delivery
        if not translated.events:
            log.info("hook delivery ignored", **context, ignored=translated.ignored)
            return JSONResponse({"stored": 0, "duplicates": 0, "ignored": translated.ignored}, status_code=202)
        try:
            outcome = await self._publish(hook, translated.events)
        except HookRefused as e:
            return _refused(label, context, e)
        except (ConfigError, PublishError) as e:  # the source retries a 5xx: nothing was lost
            log.error("hook delivery not stored", **context, error=str(e))
            return JSONResponse({"error": f"not stored, send again: {e}"}, status_code=503)
        stored, duplicates = outcome.stored, outcome.duplicates
        EVENTS.labels(hook.source, "stored").inc(len(stored))
        EVENTS.labels(hook.source, "duplicate").inc(len(duplicates))
        log.info("hook delivery stored", **context, stored=len(stored), duplicates=len(duplicates))
        answer = {
            "stored": len(stored),
            "duplicates": len(duplicates),
            "events": stored + duplicates,
            "seq": outcome.seq,
        }
        return JSONResponse(answer)

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_event_bytes * BODY_LIMIT_EVENTS
        if int(request.headers.get("content-length") or 0) > limit:
            raise HookRefused(f"the body is over {limit} bytes", status=413, reason="too_large")
        body = await request.body()
        if len(body) > limit:
            raise HookRefused(f"the body is over {limit} bytes", status=413, reason="too_large")
        return body

    async def _publish(self, hook: Hook, proposed: list[Proposed]) -> Outcome:
        """Publish what the ledger has not seen."""
        unique = {p.event_id: p for p in proposed}  # each id derived once: uuid5 is a third of the endpoint's CPU
        for p in unique.values():
            _check_type(p)
        already = await self.seen.which(list(unique))
        publisher = await self._publisher(hook)
        try:
            events = [
                publisher.build(p.event_type, hub=p.hub, subject=p.subject, data=p.data, event_id=event_id)
                for event_id, p in unique.items()
                if event_id not in already
            ]
            # An event over VSMESH_MAX_EVENT_BYTES is refused as it is sent; the ones before it are stored, and
            # a corrected delivery stores only what is missing.
            published: list[Published] = await publisher.publish_many(events) if events else []
        except InvalidEvent as e:
            raise malformed(str(e)) from None
        where = {p.event_id: f"{p.stream}:{p.sequence}" for p in published}
        await self.seen.record(where)
        stored = [p.event_id for p in published if not p.duplicate]
        fresh = set(stored)
        duplicates = [event_id for event_id in unique if event_id not in fresh]
        return Outcome(stored, duplicates, _highest(list(where.values()) + list(already.values())))

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


def _refused(source: str, context: dict, refusal: HookRefused) -> JSONResponse:
    """The one log line, the count on /metrics and the answer of a refused delivery."""
    REFUSED.labels(source, refusal.reason).inc()
    log.warning("hook delivery refused", **context, status=refusal.status, reason=refusal.reason, error=str(refusal))
    return JSONResponse({"error": str(refusal)}, status_code=refusal.status)


def _highest(places: list[str]) -> dict[str, int]:
    """Per stream, the highest sequence of `STREAM:seq` places."""
    seq: dict[str, int] = {}
    for place in places:
        stream, _, at = place.partition(":")
        if at.isdigit():
            seq[stream] = max(seq.get(stream, 0), int(at))
    return seq


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
