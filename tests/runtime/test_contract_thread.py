"""Contracts answer on a loop of their own (runtime/contract_thread.py): a main loop held by a projector's or
a coupling's work does not hold their answers."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.errors import VsmeshError
from vsmesh.hubs import hub
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation, start_contract
from vsmesh.runtime.contract_thread import ContractThread

HELD_S = 3.0  # how long the test holds the main loop: far beyond an answer's few milliseconds


async def pong(ctx: HubContext, request: ContractRequest) -> dict:
    return {"pong": ctx.hub}


def start_ping(name: str, settings):
    async def start(nc, engine):
        ctx = HubContext(name, hub("ops-hub").make_projection(), engine, nc.jetstream(), settings)
        return await start_contract(nc, ctx, [Operation("ping", ContractRequest, pong, "answers pong")])

    return start


def ask_from_another_thread(settings, name: str, answered: list) -> threading.Thread:
    async def call() -> None:
        nc = await connect(settings, name="contract-thread-test")
        try:
            answered.append((await ask(nc, name, "ping", {}, timeout=10), time.monotonic()))
        finally:
            await nc.close()

    thread = threading.Thread(target=lambda: asyncio.run(call()))
    thread.start()
    return thread


async def test_a_contract_answers_while_the_main_loop_is_held(settings, streams):
    name = f"ct-{uuid.uuid4().hex[:6]}-hub"
    async with ContractThread(settings, issue_creds=None) as contracts:
        await contracts.serve(name, start_ping(name, settings))
        answered: list = []
        asker = ask_from_another_thread(settings, name, answered)
        time.sleep(HELD_S)  # noqa: ASYNC251 - the point: the main loop held, as a long batch would hold it
        released = time.monotonic()
        await asyncio.to_thread(asker.join)
    assert answered, "no answer"
    answer, at = answered[0]
    assert answer == {"pong": name}
    assert at < released, "the answer waited for the main loop"


async def test_a_contract_thread_that_cannot_start_stops_its_thread(settings):
    before = {t.name for t in threading.enumerate()}
    nowhere = settings.model_copy(update={"nats_url": "nats://127.0.0.1:1"})
    with pytest.raises(VsmeshError):
        async with ContractThread(nowhere, issue_creds=None):
            pass
    assert "vsmesh-contracts" not in {t.name for t in threading.enumerate()} - before
