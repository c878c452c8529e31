"""An OpenCost pull of many costs: plan + publish against fin-hub, and a re-pull that finds nothing new.

Serves a generated `/allocation/compute` answer (`--services` namespaces × `--days` closed days, OpenCost's own
field set) from a local HTTP server, runs fin-hub as its own process (`vsmesh up --hub fin-hub`), and pulls in this
process: the first pull reads, asks fin-hub which costs it holds (none), and publishes one event per service and
day; once fin-hub applied them, a re-pull reads and asks again and publishes nothing. Floor, same run: the same
HTTP GET and JSON parse plus the same number of raw `js.publish` calls (pipelined by gather, 1,000 at a time).
Last line: JSON with the figures and the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from _servers import servers
from latency import start_projector, stop_projector

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.bus.streams import ensure_streams
from vsmesh.logs import configure_logging
from vsmesh.sources.pullers.jobs import pull
from vsmesh.sources.pullers.model import parse_puller_file

NOW = dt.datetime.now(dt.UTC)


def allocation_sets(services: int, days: int, run: str) -> bytes:
    today = NOW.date()
    sets = []
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        start, end = f"{day}T00:00:00Z", f"{day + dt.timedelta(days=1)}T00:00:00Z"
        sets.append({
            f"ns-{run}-{i:05d}": {
                "name": f"ns-{run}-{i:05d}", "properties": {"cluster": "bench", "namespace": f"ns-{run}-{i:05d}"},
                "window": {"start": start, "end": end}, "start": start, "end": end, "minutes": 1440.0,
                "cpuCores": 0.25, "cpuCost": 0.19 + i * 1e-4, "ramCost": 0.05, "pvCost": 0.01, "networkCost": 0.0,
                "gpuCost": 0.0, "loadBalancerCost": 0.0, "sharedCost": 0.0, "externalCost": 0.0,
                "totalCost": 0.25 + i * 1e-4, "totalEfficiency": 0.42,
            }
            for i in range(services)
        })  # fmt: skip
    return json.dumps({"code": 200, "data": sets}).encode()


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def floor(nc, url: str, count: int) -> float:
    """A bare GET + parse of the same answer and `count` raw publishes of ~300-byte events."""
    js = nc.jetstream()
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        (await client.get(url)).json()
    payload = b"x" * 300
    for i in range(0, count, 1000):
        await asyncio.gather(*(js.publish(f"strategic.bench-floor.fin-cost-recorded.n:{j}", payload,
                                          headers={"Nats-Msg-Id": uuid.uuid4().hex})
                               for j in range(i, min(i + 1000, count))))  # fmt: skip
    return time.perf_counter() - started


async def measure(settings, url: str, count: int) -> dict:
    nc = await connect(settings)
    try:
        puller = parse_puller_file(f"pullers:\n  - name: bench-{uuid.uuid4().hex[:6]}\n    kind: opencost\n"
                                   f"    url: {url}\n    days: 31\n").pullers[0]  # fmt: skip
        t0 = time.perf_counter()
        plan, stored = await pull(puller, nc, settings, {}, now=NOW)
        first = time.perf_counter() - t0
        # fin-hub applied them all (read-your-writes), then the re-pull
        wait = {stored[-1].stream: max(s.sequence for s in stored)}
        t1 = time.perf_counter()
        await ask(nc, "fin-hub", "get_cost_figures", {"ids": [], "wait_for_seq": wait}, timeout=120)
        applied = time.perf_counter() - t1
        t2 = time.perf_counter()
        again, stored_again = await pull(puller, nc, settings, {}, now=NOW)
        repull = time.perf_counter() - t2
        raw = await floor(nc, url, len(stored))
        new = sum(not s.duplicate for s in stored)
        return {
            "bench": "pullers-opencost", "costs": len(plan.events), "stored_first": new,
            "first_pull_s": round(first, 3), "applied_after_s": round(applied, 3), "repull_s": round(repull, 3),
            "stored_repull": len(stored_again), "floor_fetch_publish_s": round(raw, 3),
        }  # fmt: skip
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    with servers() as settings:
        configure_logging(settings)
        asyncio.run(_streams(settings))
        proc = start_projector(settings, Path(settings.data_dir) / "up", hub="fin-hub")
        server = serve(allocation_sets(args.services, args.days, uuid.uuid4().hex[:6]))
        try:
            url = f"http://127.0.0.1:{server.server_port}"
            print(json.dumps(asyncio.run(measure(settings, url, args.services * args.days))))
        finally:
            server.shutdown()
            stop_projector(proc)


async def _streams(settings) -> None:
    nc = await connect(settings)
    try:
        await ensure_streams(nc.jetstream(), max_msg_bytes=settings.max_event_bytes)
    finally:
        await nc.close()


if __name__ == "__main__":
    main()
