"""Real local servers for the probes: HTTP, HTTPS with certificates made here (trustme), a TCP listener."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
import trustme

from vsmesh.bus.connection import connect
from vsmesh.bus.creds import write_private
from vsmesh.gateway.identity.clients import AgentCredentials, Clients
from vsmesh.probes.examples.local_servers import Handler, serve_http, serve_tcp
from vsmesh.runtime.mesh_state import load_state


@dataclass
class Tls:
    """An HTTPS server and the CA file that trusts it."""

    port: int
    ca_file: Path


@pytest.fixture(scope="session")
def http_port() -> Iterator[int]:
    server = serve_http()
    yield server.server_port
    server.shutdown()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _https(ca: trustme.CA, ca_file: Path, *names: str, days: float) -> Iterator[Tls]:
    cert = ca.issue_cert(*names, not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=days))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = serve_http(tls=context)
    yield Tls(server.server_port, ca_file)
    server.shutdown()


@pytest.fixture(scope="session")
def https_good(ca, ca_file) -> Iterator[Tls]:
    yield from _https(ca, ca_file, "localhost", "127.0.0.1", days=90)


@pytest.fixture(scope="session")
def https_expiring(ca, ca_file) -> Iterator[Tls]:
    """A certificate that expires in 3 days."""
    yield from _https(ca, ca_file, "localhost", days=3)


@pytest.fixture(scope="session")
def https_wrong_host(ca, ca_file) -> Iterator[Tls]:
    """A certificate for another host."""
    yield from _https(ca, ca_file, "other.example", days=90)


@dataclass
class Renewable:
    """An HTTPS server whose certificate can be renewed while it runs (the next handshake shows the new one)."""

    port: int
    ca_file: Path
    ca: trustme.CA
    context: ssl.SSLContext

    def renew(self, days: float) -> None:
        cert = self.ca.issue_cert("localhost", not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=days))
        cert.configure_cert(self.context)


@pytest.fixture
def renewable_https(ca, ca_file) -> Iterator[Renewable]:
    """Starts with a certificate that expires in 3 days."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server = serve_http(tls=context)
    renewable = Renewable(server.server_port, ca_file, ca, context)
    renewable.renew(3)
    yield renewable
    server.shutdown()


@dataclass
class Traffic:
    """What a recording server saw: each request's path and arrival (monotonic), and the most at once."""

    port: int
    release: threading.Event  # lets the requests to /held… answer
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    most_at_once: int = 0
    at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str) -> list[float]:
        with self.lock:
            return [t for seen, t in self.arrivals if seen == path]


@pytest.fixture
def traffic() -> Iterator[Traffic]:
    """The local routes on a server of the test's own that records its traffic; `/held…` answers 200 only when
    the test sets `release`."""
    seen = Traffic(0, threading.Event())

    class Recording(Handler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            with seen.lock:
                seen.arrivals.append((self.path, time.monotonic()))
                seen.at_once += 1
                seen.most_at_once = max(seen.most_at_once, seen.at_once)
            try:
                if self.path.startswith("/held"):
                    seen.release.wait(10)
                    self._answer(200, b'{"status": "ok"}', {})
                else:
                    super().do_GET()
            finally:
                with seen.lock:
                    seen.at_once -= 1

    server = serve_http(handler=Recording)
    seen.port = server.server_port
    yield seen
    seen.release.set()
    server.shutdown()


@pytest.fixture(scope="session")
def tcp_port() -> Iterator[int]:
    listener = serve_tcp()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then closed: the kernel refuses connections to it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ProbesService:
    """A service client of the session mesh's issuer, as `vsmesh agent add NAME --kind service` makes one."""

    name: str
    creds: Path
    gateway_url: str


@pytest.fixture(scope="session")
def probes_service(session_dir: Path, running_mesh) -> ProbesService:
    up = session_dir / "up"  # the running mesh's data dir: its issuer reads the clients registered there
    name = f"probes-{uuid.uuid4().hex[:6]}"
    secret = Clients(up).add_client(name, "service")
    url = load_state(up).gateway_url
    assert url, "the session's mesh serves no gateway"
    creds = session_dir / f"{name}.json"
    stored = AgentCredentials(
        client_id=name, client_secret=secret, token_url=f"{url}/token", issuer=url, kind="service"
    )
    write_private(creds, msgspec.json.encode(stored))
    return ProbesService(name, creds, url)


@pytest.fixture
async def nc(settings, running_mesh):
    client = await connect(settings)
    yield client
    await client.close()


@pytest.fixture
def u() -> str:
    return uuid.uuid4().hex[:8]


async def until(check, what: str, timeout: float = 15.0):
    """Poll an async check until it is truthy (ops-hub applies events within milliseconds, not at once)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
