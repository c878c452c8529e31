"""`vsmesh streams retention` on the session's servers: refused in one line while ops-hub's rebuild would lose
events (nothing changed), applied on a stream no hub reads, and bad input named with its fix."""

import asyncio
import datetime as dt
import json
import uuid

from nats.js.api import StorageType, StreamConfig

from tests.conftest import wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.streams import RETENTION_SET


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
