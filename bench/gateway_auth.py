"""What verifying a bearer token costs per HTTP call at the gateway, beside the same call without one.

Serves the gateway app (uvicorn, as `vsmesh up` does) on a free port with a fresh data dir and one agent,
gets a token by client credentials, then calls, sequentially over one keep-alive httpx connection:
`GET /whoami` (the token verified on every call: signature, claims; the JWKS cached) and, as the floor in
the same run, `GET /healthz` (the same HTTP stack, no token). Prints p50/p99 of each and the difference
at p50, which is what every authenticated MCP call pays for its identity.
Last line: JSON with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from vsmesh.gateway.app import create_app
from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.identity.config import GatewayConfig
from vsmesh.gateway.server import bind, serve, url_of
from vsmesh.settings import Settings


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def timed(http: httpx.AsyncClient, path: str, calls: int, headers: dict[str, str]) -> list[float]:
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        answer = await http.get(path, headers=headers)
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return took


async def main(calls: int) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="vsmesh-bench-gw-"))
    try:
        secret = Clients(data_dir).add_client("bench-agent", "agent")
        settings = Settings(data_dir=data_dir)
        sock = bind("127.0.0.1", 0)
        served = await serve(create_app(GatewayConfig.of(settings, url_of(sock))), sock)
        try:
            async with httpx.AsyncClient(base_url=served.url) as http:
                grant = {"grant_type": "client_credentials"}
                answer = await http.post("/token", data=grant, auth=("bench-agent", secret))
                auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}
                await timed(http, "/whoami", 50, auth)  # warm: JWKS fetched, connection open
                await timed(http, "/healthz", 50, {})
                verified = await timed(http, "/whoami", calls, auth)
                floor = await timed(http, "/healthz", calls, {})
        finally:
            await served.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "calls": calls,
        "whoami_p50_ms": round(percentile(verified, 50), 3),
        "whoami_p99_ms": round(percentile(verified, 99), 3),
        "floor_healthz_p50_ms": round(percentile(floor, 50), 3),
        "floor_healthz_p99_ms": round(percentile(floor, 99), 3),
        "verify_cost_p50_ms": round(percentile(verified, 50) - percentile(floor, 50), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    result = asyncio.run(main(parser.parse_args().calls))
    print(
        f"/whoami (token verified) p50 {result['whoami_p50_ms']} ms p99 {result['whoami_p99_ms']} ms; "
        f"floor /healthz p50 {result['floor_healthz_p50_ms']} ms p99 {result['floor_healthz_p99_ms']} ms; "
        f"verification adds {result['verify_cost_p50_ms']} ms at p50"
    )
    print(json.dumps(result))
