"""People's writes through the gateway: what `vsmesh publish` and `vsmesh revert` send once a person signed in
(`vsmesh login`), published by the mesh as that person.

    POST /people/publish  {type, hub, subject, data: [..], expect_seq, many, subjects, ids} -> {results: [..]}
    POST /people/revert   {event_id | actor, since, reason, cascade}           -> {reverted: [..]}
    POST /people/decide   {approval_id, decision: approve|deny, arguments_hash, reason} -> {id, stream, seq}
    POST /people/call     {hub, operation, request, timeout}                -> the contract's answer
    POST /people/read     {hub, operation, request, timeout}                -> a read operation's answer

The caller is the verified bearer token and nothing else: every event's `actor` is the token's subject and its
`actorkind` human, whatever the request says. Agents and services are refused here (they write through MCP,
under their canon-hub mandates). Governance — a governance event type (events/governance.py, and revoking a
mandate) or a revert — needs a fresh person (identity/step_up.py). Each refusal is a line in the log and a
`canon-call-refused` event whose actor is who tried, as the MCP server records its refusals.

The events are published on the connection `vsmesh up` gave the gateway (the mesh's own; in the embedded runtime
its admin), so a person needs no NATS credentials at all; `/people/read` serves the CLI's contract reads the same
way, for a shell that holds none (the mesh in system mode, another machine).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec
import structlog
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import (
    ConcurrencyConflict,
    ConfigError,
    InvalidEvent,
    NotFound,
    PermissionDenied,
    PublishError,
    UnknownEventType,
    VsmeshError,
)
from vsmesh.events.governance import ADMIN_ONLY_TYPES
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.identity.resource import BearerAuth, caller
from vsmesh.gateway.identity.step_up import require_fresh_person
from vsmesh.gateway.mcp.tools import GATEWAY_FIELDS
from vsmesh.hubs.canon.approvals import decision_call
from vsmesh.hubs.operations import read_operation_names
from vsmesh.hubs.publishing import check_vocabulary
from vsmesh.hubs.revert import revert_actor, revert_event
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

PEOPLE_PATH = "/people"
CANON_HUB = "canon-hub"
# Governance beyond the admin-only types: revoking a mandate ends someone's power, as granting one gives it.
STEP_UP_TYPES = ADMIN_ONLY_TYPES | {"canon-mandate-revoked"}
SOURCE = "vsmesh/gateway"

# The error classes a CLI turns an answer back into, by the `error` name on the wire (most specific first).
ERRORS: dict[str, type[VsmeshError]] = {
    "unknown_event_type": UnknownEventType,
    "invalid_event": InvalidEvent,
    "conflict": ConcurrencyConflict,
    "publish_failed": PublishError,
    "forbidden": PermissionDenied,
    "not_found": NotFound,
    "invalid_request": ConfigError,
}
_STATUS = {"forbidden": 403, "not_found": 404, "conflict": 409, "publish_failed": 502}


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    hub: str
    subject: str | None = None
    data: list[Any] = Field(min_length=1)  # one payload per event
    expect_seq: int | None = Field(None, ge=0)
    many: bool = False  # pipelined (JSON lines), as `vsmesh publish --data -`
    # An import's events, each with its own entity and an id derived from the source's identity of the row (so a
    # re-import stores nothing): one per payload when given.
    subjects: list[str | None] | None = None
    ids: list[str] | None = None

    @model_validator(mode="after")
    def _one_each(self) -> PublishRequest:
        for name in ("subjects", "ids"):
            given = getattr(self, name)
            if given is not None and len(given) != len(self.data):
                raise ValueError(f"{name} names {len(given)} events, data holds {len(self.data)}: one each")
        return self

    def parts(self) -> list[tuple[str | None, Any, str | None]]:
        """(subject, data, id) of each event."""
        subjects = self.subjects or [self.subject] * len(self.data)
        ids = self.ids or [None] * len(self.data)
        return list(zip(subjects, self.data, ids, strict=True))


class RevertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = None
    actor: str | None = None  # without event_id: everything this actor did
    since: str | None = None
    reason: str | None = None
    cascade: bool = False


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    request: dict[str, Any] = {}
    timeout: float = Field(10.0, gt=0, le=600)


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approval_id: str = Field(min_length=1)
    decision: Literal["approve", "deny"]
    arguments_hash: str | None = None  # approve: the hash of the arguments the person was shown
    reason: str | None = None


class PeopleWrites:
    def __init__(self, nc: Client, settings: Settings, bearer: BearerAuth) -> None:
        self.nc, self.settings, self.bearer = nc, settings, bearer

    def routes(self) -> list[Route]:
        return [
            Route(f"{PEOPLE_PATH}/publish", self.bearer.protect(request_response(self.publish)), methods=["POST"]),
            Route(f"{PEOPLE_PATH}/revert", self.bearer.protect(request_response(self.revert)), methods=["POST"]),
            Route(f"{PEOPLE_PATH}/decide", self.bearer.protect(request_response(self.decide)), methods=["POST"]),
            Route(f"{PEOPLE_PATH}/call", self.bearer.protect(request_response(self.call)), methods=["POST"]),
            Route(f"{PEOPLE_PATH}/read", self.bearer.protect(request_response(self.read)), methods=["POST"]),
        ]

    def publisher_for(self, who: Principal) -> Publisher:
        acting = self.settings.model_copy(update={"actor": who.subject, "actor_kind": who.kind})
        return Publisher(self.nc.jetstream(), acting, source=SOURCE)

    async def publish(self, request: Request) -> Response:
        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(PublishRequest, await request.body())
            what = f"publishing {asked.type}"
            await self.check(who, claims, asked.hub, f"publish {asked.type}", what, asked.type in STEP_UP_TYPES)
            await check_vocabulary(self.nc, asked.hub, asked.type, asked.data)
            publisher = self.publisher_for(who)
            events = [publisher.build(asked.type, hub=asked.hub, subject=subject, data=d, event_id=event_id)
                      for subject, d, event_id in asked.parts()]  # fmt: skip
            if len(events) == 1 and not asked.many:
                results = [await publisher.publish(events[0], expect_entity_seq=asked.expect_seq)]
            else:
                results = await publisher.publish_many(events)
            log.info("published for a person", actor=who.subject, type=asked.type, hub=asked.hub, count=len(results))
            return {"results": [msgspec.to_builtins(r) for r in results]}

        return await self.answer(request, act)

    async def revert(self, request: Request) -> Response:
        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(RevertRequest, await request.body())
            await self.check(who, claims, "*", "revert", "reverting", True)
            js, publisher = self.nc.jetstream(), self.publisher_for(who)
            if asked.event_id:
                done = await revert_event(js, publisher, asked.event_id, asked.reason or "", asked.cascade)
            elif asked.actor:
                done = await revert_actor(js, publisher, asked.actor, asked.since, asked.cascade, asked.reason)
            else:
                raise ConfigError("name the event to revert, or an actor whose actions to revert")
            log.info("reverted for a person", actor=who.subject, count=len(done))
            return {"reverted": done}

        return await self.answer(request, act)

    async def call(self, request: Request) -> Response:
        """A contract write of a person's (`vsmesh call`, `vsmesh escalate`, a hub's own commands), as that person."""

        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(CallRequest, await request.body())
            await self.check(who, claims, asked.hub, asked.operation, f"calling {asked.operation}", False)
            forged = sorted(GATEWAY_FIELDS & asked.request.keys())
            if forged:
                raise ConfigError(
                    f"{', '.join(forged)} cannot be set by a caller: the gateway sets them from your token"
                )
            given = asked.request.get("metadata") if isinstance(asked.request.get("metadata"), dict) else {}
            arguments = {**asked.request, "metadata": {**given, "via": "people"}}
            arguments |= {"actor": who.subject, "actor_kind": who.kind}
            answer = await ask(self.nc, asked.hub, asked.operation, arguments, timeout=asked.timeout)
            log.info("contract called for a person", actor=who.subject, hub=asked.hub, operation=asked.operation)
            return answer

        return await self.answer(request, act)

    async def read(self, request: Request) -> Response:
        """A contract read of a person's (`vsmesh summary`, `vsmesh call` of a read …): what the NATS `reader` user
        may ask, for a person whose shell has no NATS credentials."""

        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(CallRequest, await request.body())
            if asked.operation not in read_operation_names():
                raise ConfigError(
                    f"{asked.operation} is no read operation: send a write to {PEOPLE_PATH}/call (`vsmesh call`)"
                )
            await self.check(who, claims, asked.hub, asked.operation, f"reading {asked.operation}", False, "read")
            return await ask(self.nc, asked.hub, asked.operation, asked.request, timeout=asked.timeout)

        return await self.answer(request, act)

    async def decide(self, request: Request) -> Response:
        """A person's approval or denial of a call the MCP gateway held (`vsmesh approve`, `vsmesh deny`)."""

        async def act(who: Principal, claims: dict) -> Any:
            asked = parse(DecideRequest, await request.body())
            operation = f"{asked.decision}_call"
            await self.check(who, claims, CANON_HUB, operation, "deciding a held call", False)
            call = decision_call(asked.approval_id, asked.decision, who.subject, who.kind, "people",
                                 asked.arguments_hash, asked.reason)  # fmt: skip
            answer = await ask(self.nc, CANON_HUB, *call)
            log.info(
                "held call decided for a person", actor=who.subject, approval=asked.approval_id, decision=asked.decision
            )
            return answer

        return await self.answer(request, act)

    async def check(
        self, who: Principal, claims: dict, hub: str, operation: str, what: str, governs: bool, access: str = "write"
    ) -> None:
        """Refused, on the log and as an event, unless a person asks (a fresh one, for governance)."""
        try:
            if who.kind != "human":
                raise PermissionDenied(
                    f"refused: {who.kind}s {access} through MCP under their canon-hub mandates, not as a person here"
                )
            if governs:
                require_fresh_person(who, claims, self.settings.step_up_s, what)
        except PermissionDenied as e:
            await self.refused(who, hub, operation, str(e), access)
            raise

    async def refused(self, who: Principal, hub: str, operation: str, reason: str, access: str = "write") -> None:
        log.warning(f"person's {access} refused", actor=who.subject, kind=who.kind, operation=operation, reason=reason)
        data = {"hub": hub, "operation": operation, "access": access, "reason": reason, "metadata": {"via": "people"}}
        publisher = self.publisher_for(who)
        refusal = publisher.build("canon-call-refused", hub=CANON_HUB, subject=f"actor/{who.subject}", data=data)
        await publisher.publish(refusal)

    async def answer(self, request: Request, act) -> Response:
        who, claims = _caller(request)
        try:
            body = await act(who, claims)
            status = 200
        except VsmeshError as e:
            name = _error_name(e)
            body, status = {"error": name, "message": str(e)}, _STATUS.get(name, 400)
        return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def _caller(request: Request) -> tuple[Principal, dict]:
    """The verified caller and its token's claims (auth_time for the step-up)."""
    who = caller(request.scope)
    assert who is not None  # BearerAuth.protect lets nobody else through
    return who, dict(request.scope["user"].access_token.claims or {})


def _error_name(e: VsmeshError) -> str:
    """The wire name of an error; anything else the gateway refuses (a hub's contract error) is a bad request."""
    return next((name for name, cls in ERRORS.items() if isinstance(e, cls)), "invalid_request")


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ConfigError(f"bad request: {where}: {first['msg']}") from None
