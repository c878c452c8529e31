"""Serving the gateway's ASGI app from inside `vsmesh up`: uvicorn on a socket bound here, on loopback.

Binding the socket first gives the port before anything is served (a remembered one when it is free, so a
bookmarked page survives a restart) and a bind error as one line rather than uvicorn's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
import uvicorn
from starlette.types import ASGIApp

from vsmesh.errors import ConfigError

log = structlog.get_logger(__name__)


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    task: asyncio.Task

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5.0)


GATEWAY_FIXES = ("set VSMESH_GATEWAY_PORT", "set VSMESH_GATEWAY_HOST")


def bind(
    host: str, port: int, remembered: int | None = None, *, who: str = "the gateway", fixes=GATEWAY_FIXES
) -> socket.socket:
    """A listening socket on `port` (0: the remembered port if free, else any free port); a ConfigError naming
    `who` and what to change (`fixes`: for a port in use, for any other failure) when it cannot listen."""
    for candidate in ([remembered] if port == 0 and remembered else []) + [port]:
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
        # it uvicorn's header and body writes met delayed ACKs: 46 ms per /healthz call, 1.6 ms with it (measured).
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as e:
            sock.close()
            if candidate != port:
                continue  # the remembered port is taken: any free one will do
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"{who} cannot listen on {host}:{port}: in use; {fixes[0]}") from None
            raise ConfigError(f"{who} cannot listen on {host}:{port} ({e.strerror}); {fixes[1]}") from None
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise AssertionError("unreachable")


def url_of(sock: socket.socket) -> str:
    """The URL a bound socket answers on: known before serving, so the app can name itself (the issuer)."""
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


async def serve(app: ASGIApp, sock: socket.socket) -> Served:
    """Serve `app` on `sock` until `Served.stop`; returns once it accepts connections."""
    # lifespan on: the app closes what it opened (the token verifier's HTTP client, the MCP session manager).
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="gateway")
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    url = url_of(sock)
    log.info("gateway serving", url=url)
    return Served(url, server, task)
