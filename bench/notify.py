"""Event stored → signed webhook received, through canon's route and the notifier, beside a bare HTTP POST.

Starts the servers (bench/_servers.py) and the notifier in this process (notify/service.py), declares a canon
policy routing every high alert to a local webhook receiver (a threaded HTTP server here, verifying nothing:
the tests verify signatures), then publishes `alert-raised` at an offered rate (default 100/s for 60 s, open
loop, each alert its own entity). Each alert's stored time is its publish acknowledgement; the receiver
records when each webhook-id and event arrived.

Floor, same run: a bare httpx POST of a body of the same size to the same receiver at the same rate (for at
most 10 s), timed from just before the POST to its arrival. Target: p99 <= 1,000 ms, lost 0, duplicates 0
(distinct webhook-ids for one alert). Last line: JSON with p50_ms, p99_ms, lost, duplicates and the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import msgspec
from _servers import servers

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.logs import configure_logging
from vsmesh.notify.service import start_notifier
from vsmesh.projectors.engine.database import create_engine

TARGET_MS = 1000.0
FLOOR_SECONDS = 10.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Received:
    """What the receiver got: arrival time per event id, the webhook-ids per event id, floor arrivals by key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, float] = {}
        self.ids: dict[str, list[str]] = defaultdict(list)
        self.floor: dict[str, float] = {}


def receive(port_out, stop_in) -> None:
    """The receiver, in a process of its own (forked): in this one it would share the interpreter's lock with the
    notifier and the publisher. It answers GET with what it received, as JSON."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            now = time.time()
            with received.lock:
                floor = self.headers.get("x-floor")
                if floor is not None:
                    received.floor[floor] = now
                else:
                    for event in msgspec.json.decode(body):
                        received.at.setdefault(event["id"], now)
                        if self.headers["webhook-id"] not in received.ids[event["id"]]:
                            received.ids[event["id"]].append(self.headers["webhook-id"])
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            with received.lock:
                body = msgspec.json.encode({"at": received.at, "ids": received.ids, "floor": received.floor})
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024  # the default 5 resets connections beyond it, under a burst
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_port)
    server.serve_forever()


def serve() -> tuple[multiprocessing.Process, int]:
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=receive, args=(theirs, None), daemon=True)
    process.start()
    return process, ours.recv()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


async def offered(rate: float, seconds: float, send) -> list[asyncio.Task]:
    """Open loop: the i-th send starts at start + i / rate, whether or not the previous ones finished."""
    tasks, start, i = [], time.monotonic(), 0
    while (at := start + i / rate) < start + seconds:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        tasks.append(asyncio.create_task(send(i)))
        i += 1
    return tasks


async def run(rate: float, seconds: float) -> dict:
    with servers() as settings:
        configure_logging(settings)
        settings = settings.model_copy(update={"actor": "bench", "actor_kind": "service"})
        receiver, port = serve()
        url = f"http://127.0.0.1:{port}/hook"
        nc = await connect(settings)
        js = nc.jetstream()
        await ensure_streams(js)
        engine = create_engine(settings)
        stop = asyncio.Event()
        tasks, state = await start_notifier(nc, engine, settings, {"HOOK": SECRET}, ("vsmesh-notify", "service"), stop)
        publisher = Publisher(js, settings)
        receivers = {"hook": {"kind": "webhook", "url": url, "secret": "{env:HOOK}"}}
        routes = [{"name": "high", "match": {"severity": "high"}, "receivers": ["hook"]}]
        values = {"notify_receivers": receivers, "notify_routes": routes}
        data = {"policy": "bench", "title": "bench", "metadata": {"values": values}}
        policy = publisher.build("canon-policy-declared", hub="canon-hub", subject="policy/b", data=data)
        await publisher.publish(policy)
        while not state.routing.routes:  # noqa: ASYNC110 - the notifier's planner folds it on its own time
            await asyncio.sleep(0.05)
        stored: dict[str, float] = {}

        async def alert(i: int) -> None:
            event = publisher.build("alert-raised", hub="ops-hub", subject=f"service/bench-{i}",
                                    data={"title": f"bench {i} down", "severity": "high"})  # fmt: skip
            await publisher.publish(event)
            stored[event.id] = time.time()

        sent = await offered(rate, seconds, alert)
        await asyncio.gather(*sent)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while len((got := (await http.get(url)).json())["at"]) < len(stored) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.25)  # noqa: ASYNC110 - the receiver is another process
        latencies = [got["at"][i] - t for i, t in stored.items() if i in got["at"]]
        body = b"x" * 600  # about one notification's body
        floor_starts: dict[str, float] = {}
        async with httpx.AsyncClient() as http:

            async def post(i: int) -> None:
                floor_starts[str(i)] = time.time()
                await http.post(url, content=body, headers={"x-floor": str(i)})

            await asyncio.gather(*await offered(rate, min(seconds, FLOOR_SECONDS), post))
            got = (await http.get(url)).json()
        floor = [got["floor"][k] - t for k, t in floor_starts.items() if k in got["floor"]]
        phases = await ledger_phases(engine)
        stop.set()
        await asyncio.wait(tasks, timeout=5)
        await engine.dispose()
        await nc.close()
        receiver.terminate()
        return {
            "metric": "notify_stored_to_webhook_ms",
            "rate_per_s": rate,
            "seconds": seconds,
            "alerts": len(stored),
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "lost": len(stored) - len(latencies),
            "duplicates": sum(1 for ids in got["ids"].values() if len(ids) > 1),
            "floor_p50_ms": round(statistics.median(floor) * 1000, 1) if floor else None,
            "floor_p99_ms": round(percentile(floor, 0.99), 1),
            "target_p99_ms": TARGET_MS,
            **phases,
            "cpus": os.cpu_count(),
        }


async def ledger_phases(engine) -> dict:
    """Where the time went, from the ledger: stored → planned, planned → delivered (p50, p99)."""
    import sqlalchemy as sa

    from vsmesh.notify.ledger import notifications

    n = notifications.c
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(n.first_stored_at, n.created_at, n.delivered_at))).all()
    planned = [(r.created_at - r.first_stored_at).total_seconds() for r in rows]
    sent = [(r.delivered_at - r.created_at).total_seconds() for r in rows if r.delivered_at]
    return {
        "planned_p50_ms": round(percentile(planned, 0.5), 1),
        "planned_p99_ms": round(percentile(planned, 0.99), 1),
        "sent_p50_ms": round(percentile(sent, 0.5), 1),
        "sent_p99_ms": round(percentile(sent, 0.99), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.rate, args.seconds))))


if __name__ == "__main__":
    main()
