"""500 HTTP probes every 10 s for 60 s: runner CPU per result, lateness, and publish → visible of the evidence.

Starts the servers (bench/_servers.py), the live ops-hub projector as its own process (`vsmesh up --hub
ops-hub`), and a local HTTP server as another process (so its CPU is not the runner's). The runner runs
in this process with every result published (`probes_unchanged_every=0`: the worst case for the log).
Each evidence event's publish time is kept by its stream sequence; a poller reads ops-hub's position
every 5 ms and counts a sequence as visible when the position reaches it.

Figures: runner CPU per probe result (this process's CPU over the run less the poller's, measured alone
for 5 s first, divided by results), the latest start of any probe against its slot (target: none late by more than 1 s),
publish → visible p50/p99. Floors, same run: a bare httpx GET + a bare `js.publish` per result, one
after another (CPU per result), and raw nats-py publish → ordered consumer at the same rate (latency).
Last line: JSON with the figures and floors.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
from _servers import servers
from latency import percentiles, raw_floor, start_projector, stop_projector
from nats.js.api import StreamConfig

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection
from vsmesh.logs import configure_logging
from vsmesh.probes.model import parse_probe_file
from vsmesh.probes.runner import Identity, ProbeRunner
from vsmesh.runtime.nats_server import free_port

LATE_TARGET_S = 1.0


BODY = b'{"status": "ok"}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


async def serve(port: int) -> None:
    """The probed server: asyncio, keep-alive, one canned answer. A thread-per-request http.server on a
    loaded 2-core machine answered in >1 s in one run, which measured the target, not the runner."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def start_http_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the local HTTP server did not answer in 20 s")


def probe_file(count: int, interval: float, port: int) -> str:
    lines = ["probes:"]
    for i in range(count):
        lines += [
            f"  - name: bench-{i:04d}",
            f"    entity: endpoint/bench-{i:04d}",
            "    kind: http",
            f"    interval: {interval:g}s",
            "    timeout: 5s",
            f"    url: http://127.0.0.1:{port}/?probe={i}",
            '    conditions: ["[STATUS] == 200", "[BODY].status == ok", "[RESPONSE_TIME] < 1000"]',
        ]
    return "\n".join(lines) + "\n"


async def run_probes(nc, settings, text: str, seconds: float) -> tuple[dict, list[float]]:
    sent: dict[int, float] = {}
    seen_at: list[float] = []
    seen_pos: list[int] = []
    conn = await asyncpg.connect(settings.database_url)
    query = await conn.prepare(f'SELECT position FROM "{projection().schema}".vsmesh_positions WHERE stream = $1')
    running = True

    async def poll() -> None:
        last = -1
        while running or (sent and last < max(sent)):
            position = await query.fetchval("OPERATIONAL") or 0
            if position != last:
                seen_at.append(time.perf_counter())
                seen_pos.append(position)
                last = position
            await asyncio.sleep(0.005)

    def published(stored, started: float) -> None:
        sent[stored.sequence] = started

    runner = ProbeRunner(
        parse_probe_file(text), nc, settings, {}, identity=Identity("bench-probes"), on_published=published
    )
    stop = asyncio.Event()
    poller = asyncio.create_task(poll())
    # The poller's own CPU, measured alone first and taken off the runner's figure.
    idle0, idle_wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(5)
    poller_cpu_per_s = (time.process_time() - idle0) / (time.perf_counter() - idle_wall0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0 - poller_cpu_per_s * wall
    running = False
    await asyncio.wait_for(poller, 60)
    await runner.aclose()
    await conn.close()
    latencies = [max(seen_at[bisect.bisect_left(seen_pos, seq)] - t, 0.0) for seq, t in sent.items()]
    s = runner.stats
    reasons = sorted(
        {
            r.observation.error or ", ".join(o["condition"] for o in r.outcomes if not o["held"])
            for r in s.last.values()
            if not r.passed
        }
    )
    figures = {
        "results": s.runs,
        "published": s.published,
        "failing": len(s.failing),
        "publish_errors": s.publish_errors,
        "cpu_s": round(cpu, 2),
        "poller_cpu_s": round(poller_cpu_per_s * wall, 2),
        "wall_s": round(wall, 1),
        "cpu_ms_per_result": round(cpu / max(s.runs, 1) * 1000, 3),
        "max_late_s": round(s.max_late_s, 3),
        "late_over_1s": s.late_over_1s,
        "max_wake_late_s": round(s.max_wake_late_s, 3),
        "why_failing": reasons[:3],
    }
    return figures, latencies


async def cpu_floor(js, port: int, count: int) -> float:
    """CPU ms per bare httpx GET + bare js.publish (no conditions, no envelope, no ops-hub), one by one."""
    async with httpx.AsyncClient() as client:
        cpu0 = time.process_time()
        for i in range(count):
            r = await client.get(f"http://127.0.0.1:{port}/?floor={i}")
            await js.publish("benchlat.cpu", r.content[:64])
        return (time.process_time() - cpu0) / count * 1000


async def main(count: int, interval: float, seconds: float) -> None:
    with servers() as settings:
        settings = settings.model_copy(update={"probes_unchanged_every": 0.0})
        configure_logging(settings)
        nc = await connect(settings, name="bench-probes")
        js = nc.jetstream()
        await ensure_streams(js)
        port = free_port()
        http_server = start_http_server(port)
        proc = start_projector(settings, Path(settings.data_dir) / "up")
        try:
            figures, lat = await run_probes(nc, settings, probe_file(count, interval, port), seconds)
            rate = count / interval
            floor_lat = await raw_floor(js, rate, 10.0)
            await js.add_stream(StreamConfig(name="BENCHLAT", subjects=["benchlat.>"]))
            floor_cpu = await cpu_floor(js, port, count)
            await js.delete_stream("BENCHLAT")
        finally:
            stop_projector(proc)
            http_server.terminate()
            http_server.wait(10)
            await nc.close()
    p50, p99, top = percentiles(lat)
    f50, f99, ftop = percentiles(floor_lat)
    print(
        f"{count} http probes every {interval:g} s for {seconds:g} s: {figures['results']} results, "
        f"{figures['failing']} failing at the end {figures['why_failing']}, {figures['publish_errors']} publish errors"
    )
    print(
        f"runner CPU {figures['cpu_s']} s over {figures['wall_s']} s "
        f"(the poller's {figures['poller_cpu_s']} s taken off)"
        f" = {figures['cpu_ms_per_result']} ms per result; "
        f"floor (bare httpx GET + js.publish) {floor_cpu:.3f} ms"
    )
    verdict = "OK" if figures["max_late_s"] <= LATE_TARGET_S else "MISSED"
    print(
        f"latest start {figures['max_late_s']} s after its slot ({figures['late_over_1s']} over 1 s): {verdict}; "
        f"scheduler alone (slot to wake-up) at most {figures['max_wake_late_s']} s late"
    )
    print(
        f"publish -> visible in ops-hub: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms; "
        f"raw publish -> ordered consumer p50 {f50:.2f} ms, p99 {f99:.2f} ms"
    )
    print(
        json.dumps(
            {
                "metric": "probe_cpu_ms_per_result",
                "value": figures["cpu_ms_per_result"],
                "floor": round(floor_cpu, 3),
                "ratio": round(figures["cpu_ms_per_result"] / floor_cpu, 1) if floor_cpu else None,
                "max_late_s": figures["max_late_s"],
                "max_wake_late_s": figures["max_wake_late_s"],
                "late_target_s": LATE_TARGET_S,
                "visible_p50_ms": round(p50, 2),
                "visible_p99_ms": round(p99, 2),
                "visible_floor_p99_ms": round(f99, 2),
                "results": figures["results"],
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between runs of one probe")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the runner runs")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the probed server's process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    else:
        asyncio.run(main(args.probes, args.interval, args.seconds))
