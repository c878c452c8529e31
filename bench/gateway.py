"""The MCP gateway's cost: a read and a write tool call over streamable HTTP beside the raw NATS contract
request for the same operation, in the same run; and calls/s with 8 concurrent MCP sessions.

Target: the gateway adds <= 5 ms at p50 over the raw request. Layout: `vsmesh up` on a temp
data dir (embedded servers), the gateway in its own process (uvicorn, one event loop, as `vsmesh up` will
serve it), this process as the client of both. The gateway authenticates with a stand-in that maps one fixed
bearer string to the bench agent, so no JWT verification is measured here (bench/gateway_auth.py measures it).
Read: ops-hub get_incidents; write: ops-hub record_runbook_step (one publish, no read-model check), back to back
and (`write_settled`) each call 30 ms after the previous answer, when the mesh has done its work on that write (the
target is judged on the back-to-back figures, as before). The agent's mandate is delegated from another and
carries approve conditions and caps (`GRANTED`), all checked per call;
the same calls as an agent with a plain mandate (`PLAIN`) show what those checks add (`governance_p50_ms`).

    python bench/gateway.py [--calls 400] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VSMESH = [sys.executable, "-m", "vsmesh.cli.app"]
AGENT = "bench-agent"
PLAIN = "bench-plain"  # an agent whose mandate has no approvals, caps or delegator: the cost of those, beside
TOKEN = f"agent:{AGENT}"  # the stand-in bearer string (see the module's docstring)
TOKENS = {f"agent:{name}": name for name in (AGENT, PLAIN)}
READ = ("ops-hub", "get_incidents", {})
WRITE = ("ops-hub", "record_runbook_step", {"runbook": "bench", "outcome": "succeeded", "steps": ["a", "b"]})
TARGET_P50_OVERHEAD_MS = 5.0
SETTLE_S = 0.03  # write_settled: the pause before each call, longer than the mesh's work on the previous write


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50": round(pick(0.5), 2), "p99": round(pick(0.99), 2)}


# --- the gateway process


def _stand_in(port: int):
    """The gateway's bearer authentication over a stand-in verifier: no JWT verified (bench/gateway_auth.py
    measures that), the same SDK authentication in front of the MCP endpoint."""
    from vsmesh.gateway.identity.principal import Principal
    from vsmesh.gateway.identity.resource import authenticate
    from vsmesh.gateway.identity.verify import TokenVerifier, VerifiedToken

    class StandIn(TokenVerifier):
        async def verify_token(self, token: str) -> VerifiedToken:
            name = TOKENS.get(token)
            if name is None:
                raise self.refuse("not the bench's token")
            who = Principal(subject=name, kind="agent", name=name, client_id=name)
            return VerifiedToken(token=token, client_id=name, scopes=[], subject=name, principal=who)

    url = f"http://127.0.0.1:{port}"
    return authenticate(StandIn(url, url, gateway_url=url))


async def serve(data_dir: Path, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette

    from vsmesh.bus.connection import connect
    from vsmesh.gateway.mcp.mcp_server import mcp_app
    from vsmesh.logs import configure_logging

    settings = settings_of(data_dir)
    configure_logging(settings)
    nc = await connect(settings, name="bench-gateway")
    routes, lifespan = mcp_app(settings, nc, _stand_in(port))
    app = Starlette(routes=routes, lifespan=profiled(lifespan))
    await uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).serve()


def profiled(lifespan):
    """With BENCH_GATEWAY_PROFILE=FILE, where the gateway's time goes (cProfile, written at shutdown)."""
    import contextlib

    path = os.environ.get("BENCH_GATEWAY_PROFILE")
    if not path:
        return lifespan

    @contextlib.asynccontextmanager
    async def wrapped(app):
        import cProfile

        profile = cProfile.Profile()
        async with lifespan(app):
            profile.enable()
            try:
                yield
            finally:
                profile.disable()
                profile.dump_stats(path)

    return wrapped


# --- the client process


def settings_of(data_dir: Path):
    from vsmesh.runtime.mesh_state import load_state
    from vsmesh.settings import Settings

    s = load_state(data_dir)
    return Settings(data_dir=data_dir, nats_url=s.nats_url, nats_user=s.nats_user, nats_password=s.nats_password,
                    database_url=s.database_url, log_format="json", log_level="warning")  # fmt: skip


async def timed(call, n: int, settle_s: float = 0.0) -> list[float]:
    took = []
    for _ in range(n):
        if settle_s:
            await asyncio.sleep(settle_s)
        started = time.perf_counter()
        await call()
        took.append((time.perf_counter() - started) * 1000)
    return took


async def compare(nc, client, plain, op: tuple, calls: int, write: bool, settle_s: float = 0.0) -> dict:
    """The same operation raw, through the gateway as the governed agent and as the plain one, in alternating
    blocks so drift hits all three alike; with `settle_s`, each call that long after the previous answer."""
    from vsmesh.bus.contract_client import ask

    hub, operation, args = op
    raw_args = {**args, "actor": AGENT, "actor_kind": "agent"} if write else args

    async def raw() -> None:
        await ask(nc, hub, operation, raw_args)

    def mcp(session):
        async def call() -> None:
            result = await session.call_tool(f"{hub}__{operation}", args)
            if result.is_error:
                raise RuntimeError(result.content[0].text)

        return call

    paths = {"raw_nats": raw, "mcp_http": mcp(client), "mcp_plain_mandate": mcp(plain)}
    for call in paths.values():
        await timed(call, 30)  # warm every path
    took: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(calls):  # one call of each path in turn: a load spike hits the three alike
        for name, call in paths.items():
            took[name] += await timed(call, 1, settle_s)
    found = {name: stats(values) for name, values in took.items()}
    found["p50_overhead_ms"] = round(found["mcp_http"]["p50"] - found["raw_nats"]["p50"], 2)
    # What approvals, caps and a delegation chain add over a plain mandate: the median of the differences of
    # calls made one after the other (both through the gateway), steadier than a difference of two medians.
    paired = [g - p for g, p in zip(took["mcp_http"], took["mcp_plain_mandate"], strict=True)]
    found["governance_p50_ms"] = stats(paired)["p50"]
    return found


async def throughput(url: str, seconds: float, sessions: int = 8) -> dict:
    """Read tool calls/s with `sessions` concurrent MCP clients, each calling back to back."""
    done = [0] * sessions
    stop = time.perf_counter() + seconds

    async def one(i: int) -> None:
        async with mcp_session(url) as client:
            await client.call_tool("ops-hub__get_incidents", {})
            while time.perf_counter() < stop:
                await client.call_tool("ops-hub__get_incidents", {})
                done[i] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(sessions)))
    return {"sessions": sessions, "calls": sum(done), "calls_per_s": round(sum(done) / (time.perf_counter() - started))}


def mcp_session(url: str, token: str = TOKEN):
    import contextlib

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    @contextlib.asynccontextmanager
    async def session():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
                yield client

    return session()


# The mandate a governed agent holds: delegated from another, with approve conditions and caps that every call
# is checked against (none holds the measured calls: the bench measures the checks, not a person's delay).
GRANTED = {
    "role": "Bench",
    "holder": AGENT,
    "scope": "ops-hub, fin-hub:record_cost",
    "approve": ["fin-hub:record_cost amount > 500 EUR", "ops-hub:open_incident severity == critical"],
    "caps": {"calls_per_minute": 1_000_000, "spend": {"amount": "10000", "currency": "EUR", "per": "month"}},
}
DELEGATOR = {"role": "Bench lead", "holder": "bench-lead", "scope": "*", "caps": {"calls_per_minute": 1_000_000}}


async def grant(settings) -> None:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher

    nc = await connect(settings, name="bench-grant")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        lead = publisher.build("canon-mandate-granted", hub="canon-hub", subject="mandate/bench-lead", data=DELEGATOR)
        await publisher.publish(lead)
        data = {**GRANTED, "delegated_from": lead.id}
        event = publisher.build("canon-mandate-granted", hub="canon-hub", subject=f"mandate/{AGENT}", data=data)
        await publisher.publish(event)
        data = {"role": "Bench", "holder": PLAIN, "scope": GRANTED["scope"]}
        event = publisher.build("canon-mandate-granted", hub="canon-hub", subject=f"mandate/{PLAIN}", data=data)
        await publisher.publish(event)
    finally:
        await nc.close()


def decision_cpu_us(rounds: int = 20_000) -> dict[str, float]:
    """CPU µs per call of the gateway's decision alone (mandate chain, caps, approve conditions), for the
    governed and the plain mandate, folded from the same grants: what a loaded machine's wall clock hides."""
    import datetime as dt

    from vsmesh.bus.publisher import Publisher
    from vsmesh.gateway.identity.principal import Principal
    from vsmesh.gateway.mcp.caps import CapMeter
    from vsmesh.gateway.mcp.mandates import MandateBook
    from vsmesh.settings import Settings

    publisher, book, meter = Publisher(None, Settings()), MandateBook(), CapMeter()
    lead = publisher.build("canon-mandate-granted", hub="canon-hub", subject="mandate/lead", data=DELEGATOR)
    governed = {**GRANTED, "delegated_from": lead.id}
    plain = {"role": "Bench", "holder": PLAIN, "scope": GRANTED["scope"]}
    for data in (DELEGATOR, governed, plain):
        book.apply(publisher.build("canon-mandate-granted", hub="canon-hub", subject="mandate/x", data=data))
    book.apply(lead)
    hub, operation, args = WRITE

    def cost(name: str) -> float:
        who = Principal(subject=name, kind="agent", client_id=name)
        started = time.process_time()
        for _ in range(rounds):
            now = dt.datetime.now(dt.UTC)
            decision = book.decide(who, hub, operation, True, now)
            assert decision.allowed
            meter.refusal(decision.chain, None, now, count_call=True)
            meter.count_call(decision.chain)
            decision.approval_needed(hub, operation, True, args)
        return round((time.process_time() - started) / rounds * 1e6, 1)

    return {"governed_us": cost(AGENT), "plain_us": cost(PLAIN)}


async def measure(data_dir: Path, url: str, calls: int, seconds: float) -> dict:
    from vsmesh.bus.connection import connect

    settings = settings_of(data_dir)
    await grant(settings)
    nc = await connect(settings, name="bench-raw")
    try:
        async with mcp_session(url) as client, mcp_session(url, f"agent:{PLAIN}") as plain:
            for session in (client, plain):
                for _ in range(100):  # until the gateway has followed the grants
                    if not (await session.call_tool("ops-hub__get_incidents", {})).is_error:
                        break
                    await asyncio.sleep(0.05)
            read = await compare(nc, client, plain, READ, calls, write=False)
            write = await compare(nc, client, plain, WRITE, calls, write=True)
            # A write makes the mesh work after it answers (projectors, couplings, every consumer of the event):
            # on 2 cores that work runs while the next call is served. Each call here comes after it is done.
            settled = await compare(nc, client, plain, WRITE, calls // 2, write=True, settle_s=SETTLE_S)
    finally:
        await nc.close()
    concurrent = await throughput(url, seconds)
    found = {"read": read, "write": write, "write_settled": settled, "concurrent": concurrent}
    return found | {"decision_cpu": decision_cpu_us()}


def wait_ready(data_dir: Path, proc: subprocess.Popen) -> None:
    from vsmesh.runtime.mesh_state import load_state

    deadline = time.monotonic() + 120
    while not load_state(data_dir).ready:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"vsmesh up did not get ready; see {data_dir}/mesh.log")
        time.sleep(0.1)


def wait_listening(port: int, proc: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the gateway did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per path and operation")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent phase")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve[0]), int(args.serve[1])))
        return

    from vsmesh.runtime.nats_server import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | {"VSMESH_LOG_FORMAT": "json"}
    gateway_env = env | {k: v for k, v in os.environ.items() if k == "BENCH_GATEWAY_PROFILE"}
    with tempfile.TemporaryDirectory(prefix="vsmesh-bench-gw-") as tmp:
        data_dir, port = Path(tmp), free_port()
        up = subprocess.Popen([*VSMESH, "up", "--data-dir", tmp], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
        gateway = None
        try:
            wait_ready(data_dir, up)
            gateway = subprocess.Popen([sys.executable, __file__, "--serve", tmp, str(port)], env=gateway_env)
            wait_listening(port, gateway)
            result = asyncio.run(measure(data_dir, f"http://127.0.0.1:{port}/mcp", args.calls, args.seconds))
        finally:
            for proc in (gateway, up):
                if proc is not None:
                    proc.terminate()
                    proc.wait(60)
    worst = max(result["read"]["p50_overhead_ms"], result["write"]["p50_overhead_ms"])
    result["target"] = {"p50_overhead_ms_max": TARGET_P50_OVERHEAD_MS, "met": worst <= TARGET_P50_OVERHEAD_MS}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
