"""Connecting to NATS with errors a person can act on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from vsmesh.bus.nats_internals import parser_for
from vsmesh.errors import MeshNotRunning, PermissionDenied
from vsmesh.settings import Settings

T = TypeVar("T")


class Denials:
    """The permission violations the server reported on one connection, by subject.

    A publish the server refuses for permissions gets no reply at all, only this asynchronous error: a
    publisher waiting for its acknowledgement would take it for an outage. It waits on this as well.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[str]]] = {}

    def record(self, error: Exception) -> None:
        text = str(error)
        if "permissions violation" not in text.lower() or '"' not in text:
            return
        subject = text.split('"')[1]  # nats: permissions violation for publish to "operational.fin-hub.…"
        for waiter in self._waiting.pop(subject, []):
            if not waiter.done():
                waiter.set_result(text)

    async def guard(self, subject: str, operation: Awaitable[T]) -> T:
        """The operation's result, or PermissionDenied at once when the server refuses `subject` to us."""
        done = asyncio.ensure_future(operation)
        refused = self._refused(subject)
        try:
            await asyncio.wait((done, refused), return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
        if done.done():
            return done.result()
        done.cancel()
        raise PermissionDenied(refused.result())

    def _refused(self, subject: str) -> asyncio.Future[str]:
        """Resolves with the server's message if it refuses a publish on `subject` (cancel it when acked)."""
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(subject, []).append(waiter)
        waiter.add_done_callback(lambda f: self._forget(subject, f))
        return waiter

    def _forget(self, subject: str, waiter: asyncio.Future[str]) -> None:
        waiting = self._waiting.get(subject)
        if waiting and waiter in waiting:
            waiting.remove(waiter)
            if not waiting:
                del self._waiting[subject]


class MeshClient(Client):
    """nats-py's client with the permission violations the server reports (`denials`) and JetStream
    contexts that know their client; its protocol parser is nats_internals.parser_for's.

    (It parsed message headers itself until nats-py 2.16 made its own parser fast: bus/nats_internals.py.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._ps = parser_for(self)  # nats-py's, or its fast subclass (bus/nats_internals.py)
        self.denials = Denials()
        self.closed = asyncio.Event()  # set when nats-py closes the client for good

    def jetstream(self, **opts: Any) -> MeshJetStream:
        return MeshJetStream(self, **opts)


class MeshJetStream(JetStreamContext):
    """A JetStream context that keeps its client in sight: the publisher sends with it and waits on its denials.

    (nats-py keeps it as the private `_nc`; this is its public constructor, and an attribute of ours.)
    """

    def __init__(self, client: MeshClient, **opts: Any) -> None:
        super().__init__(client, **opts)
        self.client = client


async def connect(settings: Settings, *, name: str = "vsmesh") -> Client:
    """Connect to the mesh's NATS; a missing server or refused login is one clear `MeshNotRunning`.

    The first connect tries once; after that the client reconnects forever (a NATS restart must
    not stop a projector).
    """
    if not settings.nats_url:
        raise MeshNotRunning(f"no mesh found in {settings.data_dir}: start one with `vsmesh up` or set VSMESH_NATS_URL")
    nc = MeshClient()
    seen: list[Exception] = []

    async def remember(error: Exception) -> None:
        # nats-py would print every reconnect attempt; we keep them to explain a failed connect.
        if len(seen) < 100:
            seen.append(error)
        nc.denials.record(error)

    async def closed() -> None:
        nc.closed.set()

    try:
        await nc.connect(
            # A cluster is a comma-separated list; the client fails over between them.
            [u.strip() for u in settings.nats_url.split(",") if u.strip()],
            name=name,
            user=settings.nats_user,
            password=settings.nats_password,
            connect_timeout=settings.connect_timeout,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=1,  # 0 would mean "forever" to nats-py
            error_cb=remember,
            closed_cb=closed,
        )
    except (NatsError, OSError, TimeoutError) as e:
        if any("authorization" in str(err).lower() for err in [*seen, e]):
            raise MeshNotRunning(
                f"NATS at {settings.nats_url} refused the login: check VSMESH_NATS_USER and VSMESH_NATS_PASSWORD"
            ) from e
        raise MeshNotRunning(
            f"cannot reach NATS at {settings.nats_url}: is the mesh up (`vsmesh up`) or VSMESH_NATS_URL right?"
        ) from e
    nc.options["max_reconnect_attempts"] = -1
    return nc
