"""The tamper-evident constitutional record, attacked the way someone with NATS admin rights could.

Each test runs its own nats-server (the attacks delete and recreate CONSTITUTIONAL) and a data dir of its
own holding the mesh's signing key; `vsmesh verify` runs with only that data dir in its environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import StreamConfig
from typer.testing import CliRunner

from tests.conftest import OWN_MESH_PASSWORD, VSMESH
from vsmesh.bus.chain import CHECKPOINT_TYPE, HASH, PREV, link, walk
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.bus.subjects import event_subject
from vsmesh.events.codec import encode_event
from vsmesh.runtime.chain_check import check_chain
from vsmesh.runtime.signing import SigningKey, signed_head, signing_key
from vsmesh.settings import Settings

PASSWORD = OWN_MESH_PASSWORD  # the admin's, on the test's own nats-server (`mesh`)


def verify(settings: Settings, *args: str, database: str | None = None) -> tuple[int, dict]:
    """`vsmesh verify --json` with only the mesh's data dir in the environment, as a person runs it; in-process,
    since the verification is what is tested here, not a Python start (about 2 s a call on the loaded machine)."""
    from vsmesh.cli.app import app

    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("VSMESH_")]:
            env.delenv(key)
        env.setenv("VSMESH_DATA_DIR", str(settings.data_dir))
        if database:
            env.setenv("VSMESH_DATABASE_URL", database)
        done = CliRunner().invoke(app, ["verify", "--json", *args])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    return done.exit_code, json.loads(done.stdout)


def sign(settings: Settings, export: Path | None = None, database: str | None = None) -> dict:
    """The mesh signing its head, as its gateway does for a person's `vsmesh verify --sign` (the CLI's way there is
    tests/gateway/test_governance_step_up.py); `export`: the signed head written there, as `--export` does."""

    async def go() -> dict:
        acting = settings.model_copy(update={"database_url": database}) if database else settings
        nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
        try:
            return await check_chain(nc, acting, "CONSTITUTIONAL", sign=True, export=False, exported=None)
        finally:
            await nc.close()

    report = asyncio.run(go())
    if export is not None:
        export.write_text(json.dumps(report["signed_head"]))
    return report


async def record(settings: Settings, n: int = 5) -> list[int]:
    """Constitutional events as the mesh writes them: policies, concurrently (the chain must not fork)."""
    nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
    try:
        await ensure_streams(nc.jetstream())
        publisher = Publisher(nc.jetstream(), settings)
        events = [
            publisher.build(
                "canon-policy-declared",
                hub="canon-hub",
                subject=f"policy/p{i}",
                data={"policy": f"p{i}", "title": f"policy {i}"},
            )  # fmt: skip
            for i in range(n)
        ]
        stored = await asyncio.gather(*(publisher.publish(e) for e in events))
        batch = {"policy": "b", "title": "b"}
        many = await publisher.publish_many(
            [publisher.build("canon-policy-declared", hub="canon-hub", subject="policy/batch", data=batch)]
        )
        return sorted(s.sequence for s in [*stored, *many])
    finally:
        await nc.close()


async def tamper(settings: Settings, how: str) -> None:
    """Copy the stream, delete it, and store it again with one change — headers and all."""
    nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
    js = nc.jetstream()
    try:
        info = await js.stream_info("CONSTITUTIONAL")
        msgs = [await js.get_msg("CONSTITUTIONAL", seq) for seq in range(1, info.state.last_seq + 1)]
        copied = [(m.subject, m.data, dict(m.headers or {})) for m in msgs]
        if how == "altered":
            subject, data, headers = copied[2]
            copied[2] = (subject, data.replace(b"policy ", b"policy X"), headers)
        elif how == "removed":
            del copied[2]
        elif how == "reordered":
            copied[2], copied[3] = copied[3], copied[2]
        elif how.startswith("rewritten"):  # altered, and every hash after it recomputed: a consistent forgery
            if how == "rewritten without checkpoints":  # and the signed checkpoints that would tell, gone
                copied = [c for c in copied if c[0].split(".", 3)[2] != CHECKPOINT_TYPE]
            subject, data, headers = copied[2]
            copied[2] = (subject, data.replace(b"policy ", b"policy X"), headers)
            prev = copied[1][2][HASH]
            for i in range(2, len(copied)):
                subject, data, headers = copied[i]
                headers = {**headers, PREV: prev, HASH: link(prev, data)}
                copied[i], prev = (subject, data, headers), link(prev, data)
        config: StreamConfig = info.config
        await js.delete_stream("CONSTITUTIONAL")
        await js.add_stream(config)
        for subject, data, headers in copied:
            headers = {k: v for k, v in headers.items() if not k.startswith("Nats-")}
            await js.publish(subject, data, headers=headers, stream="CONSTITUTIONAL")
    finally:
        await nc.close()


def test_an_untouched_record_is_intact_and_a_signed_head_can_be_exported(mesh, tmp_path):
    seqs = asyncio.run(record(mesh))
    code, report = verify(mesh)
    assert code == 0 and report["intact"] and report["events"] == len(seqs) == 6
    assert report["signed_checkpoint_seq"] is None and report["summary"].startswith("intact: 6 events")
    signed = sign(mesh, export=tmp_path / "head.json")
    assert signed["intact"] and signed["checkpoint"]["seq"] == 7
    code, again = verify(mesh, "--from-checkpoint", str(tmp_path / "head.json"))
    assert code == 0 and again["events"] == 7 and again["signed_checkpoint_seq"] == 7
    assert "signed up to seq 6 (checkpoint at seq 7)" in again["summary"]
    assert (mesh.data_dir / "keys" / "chain-signing.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("altered", "seq 3: altered"),
        ("removed", "seq 3: an event before it is missing"),
        ("reordered", "seq 3: reordered"),
    ],
)
def test_a_changed_removed_or_reordered_event_is_found_and_named(mesh, how, named):
    asyncio.run(record(mesh))
    assert verify(mesh)[0] == 0
    asyncio.run(tamper(mesh, how))
    code, report = verify(mesh)
    assert code == 1 and not report["intact"] and report["problem"].startswith(named), report["problem"]
    assert report["summary"].startswith("BROKEN CONSTITUTIONAL: ")


def test_an_event_inserted_without_a_link_is_found_and_named(mesh):
    asyncio.run(record(mesh))
    # An admin stores a well-formed event straight on the stream, past the publisher: it carries no link.
    asyncio.run(insert_unlinked(mesh))
    code, report = verify(mesh)
    assert code == 1 and not report["intact"], report
    assert report["problem"].startswith("seq 7: inserted"), report["problem"]
    assert report["summary"].startswith("BROKEN CONSTITUTIONAL: seq 7: inserted")


async def insert_unlinked(settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
    try:
        publisher = Publisher(nc.jetstream(), settings)
        event = publisher.build("canon-policy-declared", hub="canon-hub", subject="policy/slipped-in",
                                data={"policy": "slipped-in", "title": "never linked"})  # fmt: skip
        subject = event_subject("constitutional", "canon-hub", event.type, event.subject)
        await nc.jetstream().publish(subject, encode_event(event), stream="CONSTITUTIONAL")
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("forgery", "named"),
    [
        ("altered signature", "seq 8: a checkpoint whose signature does not hold (forged or altered)"),
        ("another key", "seq 8: a checkpoint signed by key "),
    ],
    ids=["altered-signature", "another-key"],
)
def test_a_checkpoint_whose_signature_is_not_the_meshs_is_named(mesh, forgery, named):
    asyncio.run(record(mesh))
    assert sign(mesh)["checkpoint"]["seq"] == 7  # the mesh's own checkpoint
    # A linked checkpoint (the chain holds) over the true head, whose signature the mesh's key never made.
    asyncio.run(_forge_checkpoint(mesh, forgery))
    assert asyncio.run(_walk(mesh)).intact
    code, report = verify(mesh)
    assert code == 1 and not report["intact"] and report["problem"].startswith(named), report["problem"]
    if forgery == "another key":
        assert report["problem"].endswith("not by this mesh's key")


async def _forge_checkpoint(settings: Settings, forgery: str) -> None:
    nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
    try:
        js = nc.jetstream()
        at = (await walk(js)).head
        mine = signing_key(settings.data_dir, create=False)
        key = mine if forgery == "altered signature" else SigningKey(Ed25519PrivateKey.generate())
        signed = signed_head(key, "CONSTITUTIONAL", at.seq, at.hash)
        if forgery == "altered signature":  # one bit of the mesh's true signature flipped
            signed["signature"] = f"{int(signed['signature'][0], 16) ^ 1:x}" + signed["signature"][1:]
        fields = ("stream", "head_seq", "head_hash", "public_key", "signature", "key_id")
        publisher = Publisher(js, settings)
        event = publisher.build(CHECKPOINT_TYPE, hub="registry", subject="chain/constitutional",
                                data={k: signed[k] for k in fields})  # fmt: skip
        assert (await publisher.publish(event)).sequence == 8
    finally:
        await nc.close()


def test_a_consistently_rewritten_chain_is_caught_by_the_signed_checkpoint(mesh, tmp_path):
    asyncio.run(record(mesh))
    assert sign(mesh, export=tmp_path / "head.json")["intact"]
    asyncio.run(tamper(mesh, "rewritten"))
    nc_walk = asyncio.run(_walk(mesh))
    assert nc_walk.intact  # the links alone hold: the forger recomputed them
    code, report = verify(mesh)
    assert code == 1 and "rewritten" in report["problem"] and "checkpoint at seq 7" in report["problem"]
    code, report = verify(mesh, "--from-checkpoint", str(tmp_path / "head.json"))
    assert code == 1 and "rewritten" in report["problem"]


def test_a_rewrite_that_also_drops_the_checkpoints_is_named_from_the_head_the_mesh_remembers(mesh, fresh_database):
    asyncio.run(record(mesh))
    # Signing keeps the head outside the stream too: in the data dir and in PostgreSQL.
    assert sign(mesh, database=fresh_database)["intact"]
    asyncio.run(tamper(mesh, "rewritten without checkpoints"))
    forged = asyncio.run(_walk(mesh))
    assert forged.intact and not forged.checkpoints  # the stream alone: intact, and as if never signed

    # Plain verify names the rewrite from the data dir's memory...
    code, report = verify(mesh)
    assert code == 1 and report["problem"].startswith("seq 6: rewritten"), report["problem"]
    assert "remembered in the data dir" in report["problem"] and "restore CONSTITUTIONAL" in report["problem"]
    assert report["summary"].startswith("BROKEN CONSTITUTIONAL: seq 6: rewritten") and "\n" not in report["summary"]
    # ...and from PostgreSQL's when the data dir has none (a verify run elsewhere, or a forger who removed it).
    (mesh.data_dir / "keys" / "chain-signed-heads.json").unlink()
    code, report = verify(mesh, database=fresh_database)
    assert code == 1 and report["problem"].startswith("seq 6: rewritten"), report["problem"]
    assert "remembered in PostgreSQL" in report["problem"]


async def _walk(settings: Settings):
    nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
    try:
        return await walk(nc.jetstream())
    finally:
        await nc.close()


def test_an_export_that_was_edited_is_refused(mesh, tmp_path):
    asyncio.run(record(mesh))
    assert verify(mesh, "--export", str(tmp_path / "head.json"))[0] == 0
    exported = json.loads((tmp_path / "head.json").read_text())
    exported["head_seq"] = 2
    (tmp_path / "head.json").write_text(json.dumps(exported))
    code, report = verify(mesh, "--from-checkpoint", str(tmp_path / "head.json"))
    assert code == 1 and "signature does not hold" in report["problem"]
    (tmp_path / "bad.json").write_text("{not json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
    env["VSMESH_DATA_DIR"] = str(mesh.data_dir)
    bad = subprocess.run([*VSMESH, "verify", "--from-checkpoint", str(tmp_path / "bad.json")], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and "not a head exported by `vsmesh verify --export`" in bad.stderr
