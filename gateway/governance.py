"""The governance a person asks of the mesh beyond publishing and reverting: bootstrapping a hub, changing how long a
stream keeps its events, signing the constitutional chain. The gateway does each as the signed-in person, so the CLI
needs no NATS credentials for them; each needs a fresh person (identity/step_up.py), as mandates and reverts do.

    POST /people/bootstrap  {manifest: text, source}          -> {hub, published: [..], active_revision, widgets}
    POST /people/retention  {stream, duration, snapshot}      -> {stream, max_age_s, .., set_by, summary}
    POST /people/sign       {stream, exported}                -> the verify report, with its checkpoint

The person is recorded where the change lands: the actor of the registry's events and of the checkpoint event, and
the stream's `vsmesh.retention-by` metadata; each also a line in the mesh's log. A refusal is a line in the log and a
`canon-call-refused` event, as for every people's write (people.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

from vsmesh.errors import ConfigError
from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.people import PEOPLE_PATH, PeopleWrites, parse
from vsmesh.hubs.registry.bootstrap import bootstrap
from vsmesh.hubs.registry.manifest_model import parse_manifest
from vsmesh.hubs.retention import change_retention, retention_seconds
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

# (the mesh's connection, settings acting as the person, stream, an exported head to check) -> the verify report.
# `vsmesh up` hands the gateway its signing (runtime/chain_check.py): the key is the mesh's, not the gateway's.
SignChain = Callable[[Client, Settings, str, dict[str, Any] | None], Awaitable[dict[str, Any]]]


class BootstrapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manifest: str = Field(min_length=1)  # the manifest's text, as the person's file holds it
    source: str = "manifest"  # its file name, for the line a problem is on


class RetentionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: str = Field(min_length=1)
    duration: str = Field(min_length=1)  # 30s, 12h, 90d … or `forever`
    snapshot: bool = False


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: str = "CONSTITUTIONAL"
    exported: dict[str, Any] | None = None


class GovernanceWrites:
    def __init__(self, people: PeopleWrites, engine: AsyncEngine | None, sign_chain: SignChain | None) -> None:
        self.people, self.engine, self.sign_chain = people, engine, sign_chain

    def routes(self) -> list[Route]:
        protect = self.people.bearer.protect
        return [
            Route(f"{PEOPLE_PATH}/{name}", protect(request_response(handler)), methods=["POST"])
            for name, handler in (("bootstrap", self.bootstrap), ("retention", self.retention), ("sign", self.sign))
        ]

    def _acting(self, who: Principal) -> Settings:
        return self.people.settings.model_copy(update={"actor": who.subject, "actor_kind": who.kind})

    async def bootstrap(self, request: Request) -> Response:
        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(BootstrapRequest, await request.body())
            manifest = parse_manifest(asked.manifest, asked.source)
            operation = f"bootstrap {manifest.slug}"
            await self.people.check(who, claims, REGISTRY_HUB, operation, "bootstrapping a hub", True)
            answer = await bootstrap(self.people.nc, self.people.publisher_for(who), manifest)
            count = len(answer["published"])
            log.info("bootstrapped for a person", actor=who.subject, hub=manifest.slug, published=count)
            return answer

        return await self.people.answer(request, act)

    async def retention(self, request: Request) -> Response:
        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(RetentionRequest, await request.body())
            stream, max_age = asked.stream.upper(), _max_age(asked.duration)
            await self.people.check(who, claims, "*", f"retention {stream}", "changing a stream's retention", True)
            if self.engine is None:
                raise ConfigError("this gateway has no database: changing retention needs the mesh's (`vsmesh up`)")
            answer = await change_retention(self.people.nc, self.engine, self.people.settings, stream, max_age,
                                            asked.duration, asked.snapshot, who.subject)  # fmt: skip
            log.info("retention changed for a person", actor=who.subject, stream=stream, max_age_s=max_age)
            return answer

        return await self.people.answer(request, act)

    async def sign(self, request: Request) -> Response:
        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(SignRequest, await request.body())
            stream = asked.stream.upper()
            await self.people.check(who, claims, REGISTRY_HUB, f"sign {stream}", "signing the chain", True)
            if self.sign_chain is None:
                raise ConfigError("this gateway holds no signing key: the mesh (`vsmesh up`) signs its chain")
            report = await self.sign_chain(self.people.nc, self._acting(who), stream, asked.exported)
            log.info("chain signed for a person", actor=who.subject, stream=stream, checkpoint=report.get("checkpoint"))
            return report

        return await self.people.answer(request, act)


def _max_age(text: str) -> float:
    try:
        return retention_seconds(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None
