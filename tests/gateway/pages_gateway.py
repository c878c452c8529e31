"""A gateway serving the pages on every interface (VSMESH_GATEWAY_HOST=0.0.0.0), built as `vsmesh up` builds its
own (runtime/supervisor.py), before the session's running mesh: so a browser can come from an address that is
not loopback and must sign in. In a thread with its own event loop; fixtures in test_pages.py."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vsmesh.bus.connection import connect
from vsmesh.gateway.app import create_app
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.signin import SignIn
from vsmesh.gateway.pages.live import AppliedFeed
from vsmesh.gateway.pages.web import Pages
from vsmesh.gateway.server import bind, serve, url_of
from vsmesh.settings import Settings


@dataclass
class PagesGateway:
    remote: str  # the gateway at this machine's non-loopback address
    local: str  # the same gateway at 127.0.0.1
    data_dir: Path


def outward_address() -> str:
    """This machine's address on its default route (no packet is sent: a UDP socket only picks a source)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("198.51.100.1", 9))  # TEST-NET-2 (RFC 5737): nothing is sent, the kernel picks the source
        return s.getsockname()[0]


def start_pages_gateway(settings: Settings, data_dir: Path) -> Iterator[PagesGateway]:
    ready = threading.Event()
    holder: dict = {}

    async def main() -> None:
        stop = asyncio.Event()
        nc = await connect(settings, name="vsmesh-pages-test")
        feed = AppliedFeed(nc)
        await feed.start()
        sock = bind("0.0.0.0", 0)
        port = sock.getsockname()[1]
        # As `vsmesh up`: the issuer names itself by the socket's URL (http://0.0.0.0:PORT, reachable from here);
        # a browser reaches the login page on the origin it used.
        config = GatewayConfig.of(settings.model_copy(update={"data_dir": data_dir}), url_of(sock))
        verifier = make_verifier(config)
        sign_in = SignIn(config.issuer, verifier, local_issuer=True)
        served = await serve(create_app(config, Pages(nc, feed, None, sign_in).routes(), verifier=verifier), sock)
        holder.update(stop=stop, loop=asyncio.get_running_loop(), port=port)
        ready.set()
        try:
            await stop.wait()
        finally:
            await served.stop()
            await feed.stop()
            await nc.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the pages gateway did not start"
    port, address = holder["port"], outward_address()
    assert not address.startswith("127."), "this machine has no address but loopback: no browser can come from afar"
    try:
        yield PagesGateway(f"http://{address}:{port}", f"http://127.0.0.1:{port}", data_dir)
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
