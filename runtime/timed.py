"""Timed contract calls: a coded hub's contract may name operations (`TIMED_OPERATIONS`) that `vsmesh up`
calls every so many seconds, for facts only the passage of time makes true (sec-hub: an exception past its
expiry). Each call goes through the hub's contract like any client's, so the hub publishes as itself and the
operation stays idempotent by its own event ids.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.hubs import hub

log = structlog.get_logger(__name__)


def start_timed(nc: Client, hubs: tuple[str, ...] | list[str], stop: asyncio.Event) -> list[asyncio.Task]:
    tasks = []
    for slug in hubs:
        for operation, seconds in getattr(hub(slug).contract, "TIMED_OPERATIONS", ()):
            tasks.append(
                asyncio.create_task(_every(nc, slug, operation, seconds, stop), name=f"timed:{slug}:{operation}")
            )
    return tasks


async def _every(nc: Client, slug: str, operation: str, seconds: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            answer = await ask(nc, slug, operation, {})
            if any(answer.values()):
                log.info("timed operation published", hub=slug, operation=operation, published=answer)
        except Exception as e:  # noqa: BLE001 - the next tick retries; nothing is lost, the facts stay in the log
            log.warning("timed operation failed; retrying next tick", hub=slug, operation=operation, error=str(e))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
