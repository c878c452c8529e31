"""What a person's write through the gateway costs beside publishing the same event on the mesh's own connection.

Starts a nats-server (a temp dir, the streams), serves the gateway app with its local issuer and the people's
writes (`POST /people/publish`, gateway/people.py) on a free port, signs a person in through the device grant
(the device page answered with the password, as `vsmesh login` does), then publishes `ops-health-checked` events
sequentially: through the gateway over one keep-alive connection (the token verified, the person checked, the
hub's vocabulary asked, the event built and acknowledged), and, as the floor in the same run, with the publisher on
an admin connection (what the CLI did before it signed in, without its process start). Prints p50/p99 of each and
what the gateway adds at p50. Last line: JSON with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.gateway.app import create_app
from vsmesh.gateway.identity import person_token
from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.resource import authenticate
from vsmesh.gateway.people import PeopleWrites
from vsmesh.gateway.server import bind, serve, url_of
from vsmesh.runtime.nats_server import start_nats, stop_pid
from vsmesh.settings import Settings

PERSON, PASSWORD = "bench-person", "a bench's own password"


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def sign_in(url: str) -> str:
    """A person's access token through the device grant (synchronous: run in a thread)."""
    endpoints = person_token.discover(url)
    started = person_token.start_device(endpoints)
    form = {"user_code": started.user_code, "username": PERSON, "password": PASSWORD, "decision": "approve"}
    httpx.post(f"{url}/device", data=form, timeout=30).raise_for_status()
    return person_token.poll_device(endpoints, started).access_token


async def timed(calls: int, one) -> list[float]:
    took = []
    for n in range(calls):
        started = time.perf_counter()
        await one(n)
        took.append((time.perf_counter() - started) * 1000)
    return took


async def main(calls: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="vsmesh-bench-people-"))
    nats = start_nats(root)
    try:
        settings = Settings(
            data_dir=root, nats_url=nats.url, nats_user=nats.user, nats_password=nats.password, device_poll_s=0.2
        )
        Clients(root).set_person(PERSON, PASSWORD)
        async with contextlib.AsyncExitStack() as stack:
            nc = await connect(settings, name="bench-people")
            stack.push_async_callback(nc.close)
            await ensure_streams(nc.jetstream(), max_msg_bytes=settings.max_event_bytes)
            sock = bind("127.0.0.1", 0)
            config = GatewayConfig.of(settings, url_of(sock))
            verifier = make_verifier(config)
            routes = PeopleWrites(nc, settings, authenticate(verifier)).routes()
            served = await serve(create_app(config, routes, verifier=verifier), sock)
            stack.push_async_callback(served.stop)
            token = await asyncio.to_thread(sign_in, served.url)
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=served.url, timeout=30))
            auth = {"Authorization": f"Bearer {token}"}
            publisher = Publisher(nc.jetstream(), settings)

            async def through_gateway(n: int) -> None:
                body = {"type": "ops-health-checked", "hub": "ops-hub", "subject": f"service/p{n % 50}",
                        "data": [{"status": "green"}]}  # fmt: skip
                answer = await http.post("/people/publish", json=body, headers=auth)
                assert answer.status_code == 200, answer.text

            async def direct(n: int) -> None:
                event = publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/d{n % 50}",
                                        data={"status": "green"})  # fmt: skip
                await publisher.publish(event)

            await timed(50, through_gateway)  # warm: JWKS fetched, connection open, vocabulary learnt
            await timed(50, direct)
            gateway = await timed(calls, through_gateway)
            floor = await timed(calls, direct)
    finally:
        stop_pid(nats.pid)
        shutil.rmtree(root, ignore_errors=True)
    return {
        "metric": "people_publish_added_ms_p50",
        "value": round(percentile(gateway, 50) - percentile(floor, 50), 3),
        "calls": calls,
        "gateway_p50_ms": round(percentile(gateway, 50), 3),
        "gateway_p99_ms": round(percentile(gateway, 99), 3),
        "floor_direct_p50_ms": round(percentile(floor, 50), 3),
        "floor_direct_p99_ms": round(percentile(floor, 99), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    result = asyncio.run(main(parser.parse_args().calls))
    print(
        f"through the gateway p50 {result['gateway_p50_ms']} ms p99 {result['gateway_p99_ms']} ms; "
        f"floor (publisher on the admin connection) p50 {result['floor_direct_p50_ms']} ms "
        f"p99 {result['floor_direct_p99_ms']} ms; the gateway adds {result['value']} ms at p50"
    )
    print(json.dumps(result))
