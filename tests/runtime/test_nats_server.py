"""The embedded nats-server starts where it says it does, even when another process takes its port first."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import nats

from tests.conftest import server_dir
from vsmesh.runtime.nats_server import free_port, start_nats, stop_pid


def take_the_port_once_configured(conf, port: int, taken: list[socket.socket], stop: threading.Event) -> None:
    """As a second `vsmesh up` starting beside this one does: it chose the same free port a moment earlier and
    listens on it between this server's configuration and its bind."""
    while not stop.is_set():
        if conf.exists() and f"listen: 127.0.0.1:{port}" in conf.read_text():
            other = socket.socket()
            try:
                other.bind(("127.0.0.1", port))
                other.listen()
                taken.append(other)
            except OSError:  # the server was quicker: nothing to simulate this time
                other.close()
            return
        time.sleep(0.0005)


async def test_a_port_another_process_takes_first_is_not_taken_for_this_servers():
    path = server_dir()
    port = free_port()
    taken: list[socket.socket] = []
    stop = threading.Event()
    rival = threading.Thread(target=take_the_port_once_configured, args=(path / "nats.conf", port, taken, stop))
    rival.start()
    server = None
    try:
        server = start_nats(path, port=port, password="own-port")
        nc = await nats.connect(
            server.url, user=server.user, password=server.password, connect_timeout=5, allow_reconnect=False
        )
        await nc.close()  # this server's own users: the one it named is the one listening
        if taken:  # the other listener got the port: the server must have moved
            assert server.port != port
    finally:
        stop.set()
        rival.join()
        for other in taken:
            other.close()
        if server is not None:
            stop_pid(server.pid)
        shutil.rmtree(path, ignore_errors=True)
