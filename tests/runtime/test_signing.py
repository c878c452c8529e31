"""`vsmesh up` signs the constitutional chain's head every N events, and never a broken chain: it logs it.

A `vsmesh up` of its own, on a nats-server and a database of its own: the test breaks the chain, which the
session's mesh must keep whole."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.bus.test_chain import PASSWORD, insert_unlinked, record
from tests.conftest import VSMESH, wait_until
from vsmesh.runtime.mesh_state import load_state
from vsmesh.runtime.signing import last_checkpointed
from vsmesh.settings import Settings

EVERY = 3


@pytest.fixture
def signing_up(mesh, fresh_database, tmp_path) -> Iterator[tuple[Settings, dict[str, str], Path]]:
    """`vsmesh up --hub canon-hub` signing every EVERY constitutional events; its settings, env and log."""
    data_dir, log = tmp_path / "up", tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | {
        "VSMESH_NATS_URL": mesh.nats_url, "VSMESH_NATS_USER": "admin", "VSMESH_NATS_PASSWORD": PASSWORD,
        "VSMESH_DATABASE_URL": fresh_database, "VSMESH_DATA_DIR": str(data_dir), "VSMESH_LOG_FORMAT": "json",
        "VSMESH_CHAIN_CHECKPOINT_EVERY": str(EVERY),
    }  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen([*VSMESH, "up", "--hub", "canon-hub", "--no-demo"], env=env, stdout=out, stderr=out)
    try:
        wait_until(lambda: load_state(data_dir).ready, timeout=120, what="vsmesh up to be ready", proc=proc, log=log)
        yield mesh.model_copy(update={"data_dir": data_dir}), env, log
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, log.read_text()[-2000:]


def logged(log: Path, event: str) -> list[dict]:
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("event") == event:
            lines.append(line)
    return lines


def signed_up_to(settings: Settings) -> int:
    async def read() -> int:
        nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
        try:
            return await last_checkpointed(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(read())


def verify(env: dict[str, str]) -> tuple[int, dict]:
    done = subprocess.run([*VSMESH, "verify", "--json"], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout)


def test_vsmesh_up_signs_the_head_every_n_events_and_logs_a_broken_chain_unsigned(signing_up):
    settings, env, log = signing_up
    asyncio.run(record(settings))  # six events: past the threshold of three
    # The mesh signs the head with its data dir's key: a checkpoint at seq 7 over seq 6.
    wait_until(lambda: signed_up_to(settings) == 6, timeout=30, what="vsmesh up to sign the head")
    assert [(x["head_seq"], x["checkpoint_seq"]) for x in logged(log, "constitutional chain signed")] == [(6, 7)]
    code, report = verify(env)
    assert code == 0 and report["signed_checkpoint_seq"] == 7, report

    # An event slipped in without a link, and four more after it: past the threshold, but the chain is broken.
    asyncio.run(insert_unlinked(settings))
    asyncio.run(record(settings, n=3))
    broken = wait_until(lambda: logged(log, "constitutional chain broken; not signed"), timeout=30,
                        what="vsmesh up to log the broken chain")  # fmt: skip
    assert broken[0]["level"] == "error" and broken[0]["problem"].startswith("seq 8: inserted"), broken
    code, report = verify(env)  # what a person is told, and a look or two of the mesh's meanwhile
    assert code == 1 and report["problem"] == broken[0]["problem"]
    assert signed_up_to(settings) == 6  # nothing signed over the break
    heads = [x["head_seq"] for x in logged(log, "constitutional chain broken; not signed")]
    assert len(heads) == len(set(heads)), heads  # logged once per head, not again at every look
