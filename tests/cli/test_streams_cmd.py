"""`vsmesh streams retention` on the session's servers: refused in one line while ops-hub's rebuild would lose
events (nothing changed), applied on a stream no hub reads, and bad input named with its fix; `--snapshot` (the
gateway's work for it) on a nats-server and database of its own, whose streams may lose their events."""

import asyncio
import datetime as dt
import json
import uuid

import pytest
from nats.js.api import StorageType, StreamConfig

from tests.conftest import wait_until
from tests.couplings.test_couplings import rows
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import RETENTION_BY, RETENTION_SET, ensure_streams
from vsmesh.errors import RetentionRefused
from vsmesh.hubs import hub
from vsmesh.hubs.retention import change_retention, retention_seconds
from vsmesh.projectors.engine.batches import ensure_schema, positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.snapshot_store import list_snapshots
from vsmesh.projectors.runner import run_projection
from vsmesh.settings import Settings


def stream_config(settings, name: str, create: bool = False) -> StreamConfig:
    async def go() -> StreamConfig:
        nc = await connect(settings)
        try:
            js = nc.jetstream()
            if create:
                await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE))
            return (await js.stream_info(name)).config
        finally:
            await nc.close()

    return asyncio.run(go())


def test_a_change_that_would_break_ops_hubs_rebuild_is_refused(cli, settings, running_mesh):
    entity, green = f"service/r-{uuid.uuid4().hex[:6]}", '{"status":"green"}'
    published = cli("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", entity, "--data", green)
    assert published.exit_code == 0, published.output
    stored = dt.datetime.now(dt.UTC)
    before = stream_config(settings, "OPERATIONAL").max_age
    # Once that event is older than a second, a max age of 1 s would delete it: ops-hub's rebuild needs it.
    wait_until(lambda: dt.datetime.now(dt.UTC) - stored > dt.timedelta(seconds=1.2), what="the event to age")
    refused = cli("streams", "retention", "operational", "1s")
    assert refused.exit_code == 1
    line = refused.output.strip()
    assert "\n" not in line and line.startswith("error: setting OPERATIONAL retention to 1s would break rebuilds")
    assert "ops-hub would lose" in line and "--snapshot" in line
    assert stream_config(settings, "OPERATIONAL").max_age == before  # nothing changed


def test_retention_applies_on_a_stream_no_hub_reads(cli, settings, running_mesh):
    name = f"PLAIN_{uuid.uuid4().hex[:6].upper()}"
    stream_config(settings, name, create=True)
    applied = cli("streams", "retention", name, "36h", "--json")
    assert applied.exit_code == 0, applied.output
    answer = json.loads(applied.stdout)
    assert answer["stream"] == name and answer["max_age_s"] == 36 * 3600 and answer["hubs"] == []
    config = stream_config(settings, name)
    assert config.max_age == 36 * 3600 and config.metadata[RETENTION_SET] == "36h"


def test_bad_input_is_one_line_with_the_fix(cli, running_mesh):
    unknown = cli("streams", "retention", "NO_SUCH", "1d")
    assert unknown.exit_code == 1 and "no stream NO_SUCH; the streams are" in unknown.output
    bad = cli("streams", "retention", "OPERATIONAL", "soon")
    assert bad.exit_code == 2 and "write e.g. 500ms, 30s" in bad.output
    forever = cli("streams", "retention", "CONSTITUTIONAL", "3650d")
    assert forever.exit_code == 2 and "hash chain" in " ".join(forever.output.replace("│", " ").split())


def test_snapshot_first_then_apply_and_a_hub_behind_stays_refused(mesh, fresh_database, cli_in, tmp_path):
    settings = mesh.model_copy(update={"database_url": fresh_database})
    env = {"VSMESH_NATS_URL": settings.nats_url, "VSMESH_NATS_USER": "admin", "VSMESH_DATA_DIR": str(mesh.data_dir),
           "VSMESH_NATS_PASSWORD": settings.nats_password, "VSMESH_DATABASE_URL": fresh_database}  # fmt: skip
    # What the gateway does for a person's `vsmesh streams retention TACTICAL 1s --snapshot` (the CLI's way there:
    # tests/gateway/test_governance_step_up.py), on a server and database of the test's own.
    retention = lambda: asyncio.run(_change(settings, "TACTICAL", "1s"))  # noqa: E731
    head = asyncio.run(_three_risks(settings))
    # Once they are older than a second, a max age of 1 s would delete sec-hub's three events.
    wait_until(lambda: asyncio.run(_age(settings, head)) > 1.2, what="the events to age")

    # sec-hub's projector has applied none of them: its snapshot covers nothing, so it stays refused.
    with pytest.raises(RetentionRefused) as refused:
        retention()
    line = str(refused.value)
    assert "\n" not in line and line.startswith("setting TACTICAL retention to 1s would break rebuilds: ")
    assert "sec-hub would lose 3 events its rebuild needs" in line and "have not applied all their events" in line
    assert asyncio.run(_tactical(settings)).config.max_age != 1

    # Once the projector caught up, the hub is snapshot first, and then the retention applies.
    asyncio.run(_project(settings, "sec-hub", head))
    answer = retention()
    [taken] = asyncio.run(_snapshot_names(settings, "sec-hub"))[-1:]
    assert answer["snapshots_taken"] == {"sec-hub": taken}  # the others' (taken above) cover the stream's head
    assert {"hub": "sec-hub", "lost": 3, "rebuilds_from": taken} in answer["hubs"]
    info = asyncio.run(_tactical(settings))
    assert info.config.max_age == 1 and info.config.metadata[RETENTION_SET] == "1s"
    assert info.config.metadata[RETENTION_BY] == "a-person" and answer["set_by"] == "a-person"

    # The events age out, and sec-hub still rebuilds: from that snapshot, with its three risks.
    wait_until(lambda: asyncio.run(_tactical(settings)).state.messages == 0, what="TACTICAL to forget its events")
    rebuilt = cli_in(env, tmp_path, "rebuild", "sec-hub", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["source"] == taken
    titles = [r["title"] for r in asyncio.run(rows(settings, "SELECT title FROM sec_hub.risks ORDER BY title"))]
    assert titles == ["risk 0", "risk 1", "risk 2"]


async def _three_risks(settings: Settings) -> int:
    """Three of sec-hub's events on TACTICAL (the streams made first); the stream's sequence of the last."""
    nc = await connect(settings)
    try:
        await ensure_streams(nc.jetstream())
        publisher = Publisher(nc.jetstream(), settings)
        built = [publisher.build("risk-surfaced", hub="sec-hub", subject=f"service/s{i}", data={"title": f"risk {i}"})
                 for i in range(3)]  # fmt: skip
        return max(p.sequence for p in await publisher.publish_many(built))
    finally:
        await nc.close()


async def _change(settings: Settings, stream: str, text: str) -> dict:
    nc, engine = await connect(settings), create_engine(settings)
    try:
        return await change_retention(nc, engine, settings, stream, retention_seconds(text), text, True, "a-person")
    finally:
        await engine.dispose()
        await nc.close()


async def _tactical(settings: Settings):
    nc = await connect(settings)
    try:
        return await nc.jetstream().stream_info("TACTICAL")
    finally:
        await nc.close()


async def _age(settings: Settings, seq: int) -> float:
    nc = await connect(settings)
    try:
        stored = (await nc.jetstream().get_msg("TACTICAL", seq)).time
        return (dt.datetime.now(dt.UTC) - stored).total_seconds()
    finally:
        await nc.close()


async def _snapshot_names(settings: Settings, slug: str) -> list[str]:
    nc = await connect(settings)
    try:
        return sorted(s.name for s in await list_snapshots(nc.jetstream(), slug))
    finally:
        await nc.close()


async def _project(settings: Settings, slug: str, head: int) -> None:
    """The hub's live projector, run until it has applied TACTICAL up to `head`."""
    nc, engine, stop = await connect(settings), create_engine(settings), asyncio.Event()
    projection = hub(slug).make_projection()
    await ensure_schema(engine, projection, projection.schema)  # polled below before the projector makes it
    task = asyncio.create_task(run_projection(nc.jetstream(), engine, projection, settings, stop, ProjectorStats(slug)))
    deadline = asyncio.get_running_loop().time() + 30
    try:
        while (await positions(engine, projection, projection.schema)).get("TACTICAL", 0) < head:
            assert asyncio.get_running_loop().time() < deadline, f"{slug} did not apply TACTICAL up to {head}"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await engine.dispose()
        await nc.close()
