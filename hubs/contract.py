"""The cross-hub contract: each hub answers `vsmesh.{hub}.{operation}` as the nats.micro service `vsmesh-{hub}`.

Reads answer from the hub's read model; writes publish an event and return its id. A request is
validated with pydantic; every failure comes back as JSON `{"error": {"code", "message"}}` (and the
micro error headers), never as a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from prometheus_client import Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh import __version__
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.subjects import contract_service
from vsmesh.errors import ContractError, NotFound, VsmeshError
from vsmesh.hubs.vocabulary import VOCABULARIES
from vsmesh.projectors.engine.batches import in_schema, positions
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.copies import point_in_time_schema
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

# Process-wide, as Prometheus metrics are: /metrics (gateway/pages/metrics.py) exposes it.
CALL_SECONDS = Histogram(
    "vsmesh_contract_call_seconds", "contract calls answered, by hub, operation and outcome",
    ["hub", "operation", "outcome"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)  # fmt: skip


class ContractRequest(BaseModel):
    """Base of every request model: unknown fields are refused, so a typo is an error, not a no-op.

    `wait_for_seq` asks a read to wait until the hub has applied that stream sequence
    (read-your-writes for a script that just published).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    wait_for_seq: dict[str, int] | None = None
    # Not `as_of`: some requests already take a date by that name (fin's runway as of a day).
    point_in_time: str | None = Field(
        None, description="read point-in-time copy NAME (`vsmesh rebuild HUB --into NAME`) instead of the live hub"
    )


@dataclass
class HubContext:
    """What a contract handler may use: the hub's read model (read-only by habit) and a publisher."""

    hub: str
    projection: Projection
    engine: AsyncEngine
    js: JetStreamContext
    settings: Settings
    point_in_time: str | None = None  # a copy this context reads instead of the live hub (read-only)
    publisher: Publisher = field(init=False)
    schema: str = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.js, self.settings, source=f"vsmesh/{self.hub}")
        self.schema = self.projection.schema

    @property
    def nc(self) -> Client:
        """The connection this contract answers on (its hub's own user), for asking other hubs' contracts. nats-py
        keeps it on the JetStream context, which is all a HubContext is built from."""
        return self.js._nc

    async def at(self, name: str) -> HubContext:
        """This hub as its point-in-time copy `name`: the same reads, on that copy; no writes."""
        found = dataclasses.replace(self, point_in_time=name)
        found.schema = await point_in_time_schema(self.engine, self.hub, name)
        return found

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose schema-less tables resolve to this hub's schema (live, or the as-of copy's), all
        of whose statements see one snapshot: an answer read in several statements must not mix two batches
        of the projector (READ COMMITTED let ops-hub's get_services read a backup set's attributes committed
        after its inventory rows were read, and fail with a KeyError)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            yield await in_schema(conn, self.schema)

    async def wait_for(self, wanted: dict[str, int], timeout: float = 5.0) -> None:
        """Return once the hub's positions reach `wanted` ({stream: seq}); ContractError on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            at = await positions(self.engine, self.projection, self.projection.schema)
            if all(at.get(stream, 0) >= seq for stream, seq in wanted.items()):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise ContractError("not_yet_applied", f"{self.hub} has not applied {wanted} within {timeout} s")
            await asyncio.sleep(0.01)

    async def publish(
        self,
        event_type: str,
        *,
        subject: str | None,
        data: Any,
        actor: str | None = None,
        actor_kind: str | None = None,
        **ids: Any,
    ) -> dict[str, Any]:
        """Publish an event for this hub, naming the caller as actor when given; the answer a write returns.

        A type the hub's active manifest does not declare is refused (`undeclared_type`), and so is an annotation
        in a category it does not declare.
        """
        if self.point_in_time is not None:
            raise ContractError(
                "read_only", f"point_in_time={self.point_in_time!r} reads a copy of the past; write to the live hub"
            )
        refusal = VOCABULARIES.refusal(self.hub, event_type, data)
        if refusal:
            raise ContractError("undeclared_type", refusal)
        event = self.publisher.build(event_type, hub=self.hub, subject=subject, data=data, **ids)
        if actor or actor_kind:  # the caller acted, not the hub's own service identity
            event = msgspec.structs.replace(event, actor=actor or event.actor, actorkind=actor_kind or event.actorkind)
        stored = await self.publisher.publish(event)
        return {"id": stored.event_id, "stream": stored.stream, "seq": stored.sequence}


Handler = Callable[[HubContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One contract operation: its name, its pydantic request model and its handler.

    `writes` marks an operation that publishes an event: NATS lets the reader user request only the
    others (bus/creds.py `reader_permissions`), and the gateway's mandates tell reads from writes by it.
    `callers` says whom the gateway lets call it: `mandate` (agents and services under a mandate, people),
    `people` (only a person: deciding an approval), or `everyone` verified (polling one's own approval).
    `spends` names the request's field holding money (with its `currency`), which mandates' spend caps count.
    """

    name: str
    request: type[ContractRequest]
    handler: Handler
    description: str = ""
    writes: bool = False
    callers: Literal["mandate", "people", "everyone"] = "mandate"
    spends: str | None = None


def _encode(value: Any) -> bytes:
    return msgspec.json.encode(value, enc_hook=_enc_hook)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)  # Decimal, UUID, Path …


def error_body(code: str, message: str) -> bytes:
    return _encode({"error": {"code": code, "message": message}})


def _endpoint(ctx: HubContext, op: Operation) -> Callable[[Request], Awaitable[None]]:
    async def handle(req: Request) -> None:
        started = time.perf_counter()
        outcome = await _answer(ctx, op, req)
        CALL_SECONDS.labels(ctx.hub, op.name, outcome).observe(time.perf_counter() - started)

    return handle


async def _answer(ctx: HubContext, op: Operation, req: Request) -> str:
    """Answer one request; returns the outcome: ok, or the error code sent."""
    try:
        raw = msgspec.json.decode(req.data) if req.data.strip() else {}
        request = op.request.model_validate(raw)
        if request.wait_for_seq:
            await ctx.wait_for(request.wait_for_seq)
        target = await ctx.at(request.point_in_time) if request.point_in_time else ctx
        answer = await op.handler(target, request)
        await req.respond(_encode(answer))
        return "ok"
    except (msgspec.DecodeError, ValidationError) as e:
        return await _fail(req, "invalid_request", _first_error(e))
    except ContractError as e:
        return await _fail(req, e.code, str(e))
    except NotFound as e:  # e.g. a point-in-time copy that was never built
        return await _fail(req, "not_found", str(e))
    except VsmeshError as e:
        return await _fail(req, "rejected", str(e))
    except Exception as e:  # noqa: BLE001 - the caller must get an answer, and we log what broke
        log.exception("contract handler failed", hub=ctx.hub, operation=op.name)
        return await _fail(req, "internal", f"{op.name} failed on {ctx.hub}: {type(e).__name__}: {e}")


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "request"
        return f"{where}: {err['msg']}"
    return f"request is not JSON: {e}"


async def _fail(req: Request, code: str, message: str) -> str:
    await req.respond_error(code, message.splitlines()[0][:500], data=error_body(code, message))
    return code


# Starts a hub's contract on the connection it answers on, reading through the given engine (the host's).
StartContractOn = Callable[[Client, AsyncEngine], Awaitable[Any]]


class ContractHost(Protocol):
    """Where contracts answer: `vsmesh up` runs them on a loop of their own (runtime/contract_thread.py)."""

    async def serve(self, hub: str, start: StartContractOn) -> None: ...


async def start_contract(nc: Client, ctx: HubContext, operations: list[Operation]) -> Service:
    """Start the hub's `vsmesh-{hub}` micro service with one endpoint per operation."""
    service = await add_service(
        nc, name=contract_service(ctx.hub), version=__version__, description=f"the {ctx.hub} contract"
    )
    group = service.add_group(name=f"vsmesh.{ctx.hub}")
    for op in operations:
        await group.add_endpoint(name=op.name, handler=_endpoint(ctx, op), metadata={"description": op.description})
    # The endpoints' subscriptions reach the server before anyone is told the contract answers: a request sent
    # from another connection right after could otherwise find no responder.
    await nc.flush()
    log.info("contract answering", hub=ctx.hub, operations=[op.name for op in operations])
    return service
