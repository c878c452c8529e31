"""A notifier of the test's own (its nats-server, its database) and real local receivers: an HTTP endpoint that
records what it is sent and answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.notify.planner import NotifierState
from vsmesh.notify.service import start_notifier
from vsmesh.projectors.engine.database import create_engine
from vsmesh.settings import Settings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a test key, in the Standard Webhooks format
ENVIRON = {"HOOK_SECRET": SECRET}


@dataclass
class Inbox:
    """What a local HTTP receiver was sent (headers, body), and the statuses it answers with, in turn."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # consumed one per request; empty: 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else 200


def serve(inbox: Inbox) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (a crash test's kill): not a delivery
                return
            status = inbox.answer()
            if status < 300:
                with inbox.lock:
                    inbox.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"nope" if status >= 300 else b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, str]]:
    box = Inbox()
    server = serve(box)
    yield box, f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture
def own(mesh: Settings, fresh_database: str) -> Settings:
    """A nats-server and a database nobody else writes to, with the mesh's streams."""
    settings = mesh.model_copy(update={"database_url": fresh_database, "actor": "ada", "actor_kind": "human"})

    async def streams() -> None:
        nc = await connect(settings)
        try:
            await ensure_streams(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(streams())
    return settings


@dataclass
class Running:
    settings: Settings
    state: NotifierState
    publisher: Publisher
    engine: object
    nc: object

    async def publish(self, event_type: str, hub: str, subject: str | None, data: dict, **ids) -> str:
        event = self.publisher.build(event_type, hub=hub, subject=subject, data=data, **ids)
        return (await self.publisher.publish(event)).event_id


@contextlib.asynccontextmanager
async def running_notifier(own: Settings) -> AsyncIterator[Running]:
    """The notifier in the test's process, stopped at the end as `vsmesh up` stops it."""
    nc = await connect(own)
    engine = create_engine(own)
    stop = asyncio.Event()
    tasks, state = await start_notifier(nc, engine, own, ENVIRON, ("vsmesh-notify", "service"), stop)
    try:
        yield Running(own, state, Publisher(nc.jetstream(), own), engine, nc)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            t.cancel()
        await engine.dispose()
        await nc.close()


@pytest.fixture
async def notifier(own: Settings) -> AsyncIterator[Running]:
    async with running_notifier(own) as running:
        yield running


async def until(check, *, timeout: float = 60.0, what: str = "condition"):
    """Await `check()` (sync or async) until truthy; fail naming what never happened."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def policy(receivers: dict, routes: list, slug: str = "notifications") -> dict:
    return {"policy": slug, "title": "Who hears of what", "version": "1",
            "metadata": {"values": {"notify_receivers": receivers, "notify_routes": routes}}}  # fmt: skip
