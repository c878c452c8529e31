"""End to end through the CLI: publish → projector → summary, and tail, on the session's real servers."""

import asyncio
import json
import os
import select
import subprocess
import time
import uuid

import pytest

from tests.conftest import VSMESH, wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.quarantine_store import list_quarantined


def service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def summary_status(cli, name: str) -> str | None:
    result = cli("summary", "ops-hub", "--json")
    assert result.exit_code == 0, result.output
    for s in json.loads(result.stdout)["services"]:
        if s["name"] == name:
            return s["status"]
    return None


def test_published_health_shows_in_summary(cli, running_mesh):
    name = service()
    published = cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        f"service/{name}",
        "--data",
        '{"status":"green"}',
    )
    assert published.exit_code == 0, published.output
    event_id, stream, _, seq = published.stdout.split()
    assert stream == "OPERATIONAL" and int(seq) > 0
    wait_until(lambda: summary_status(cli, name) == "green", timeout=10, what=f"{name} green in the summary")

    # The human summary is a table naming the service and its health.
    table = cli("summary", "ops-hub")
    assert name in table.stdout and "green" in table.stdout


def test_many_events_from_stdin_and_the_latest_health_wins(cli, running_mesh):
    name = service()
    lines = "\n".join(json.dumps({"status": s}) for s in ("green", "amber", "red")) + "\n"
    result = cli(
        "publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/{name}", "--data", "-", input=lines
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("published 3 events (0 duplicates)")
    wait_until(lambda: summary_status(cli, name) == "red", timeout=10, what=f"{name} red")


def test_tail_without_follow_shows_history(cli, running_mesh):
    name = service()
    cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        f"service/{name}",
        "--data",
        '{"status":"amber"}',
    )
    lines = cli("tail", "--no-follow", "--hub", "ops-hub").stdout.splitlines()
    mine = [line for line in lines if name in line]
    assert len(mine) == 1
    assert "ops-health-checked" in mine[0] and "operational" in mine[0] and '"amber"' in mine[0]

    as_json = cli("tail", "--no-follow", "--json", "--type", "ops-health-*").stdout.splitlines()
    events = [json.loads(line) for line in as_json]
    assert any(e.get("subject") == f"service/{name}" and e.get("specversion") == "1.0" for e in events)
    assert cli("tail", "--no-follow", "--type", "alert-*").stdout.count(name) == 0


def test_tail_follow_streams_new_events(cli, mesh_env, streams, running_mesh):
    # `streams`: run first in a session of its own (`make test-each`), nothing had created them yet and the
    # follower exited at once.
    name = service()
    env = {**os.environ, **mesh_env}
    follower = subprocess.Popen(
        [*VSMESH, "tail", "--follow", "--hub", "ops-hub"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # --follow shows only events after its consumer starts, and we cannot see when that is: publish
        # until the follower prints ours (on a loaded machine start-up takes a while).
        deadline = time.monotonic() + 60
        line = ""
        while name not in line and time.monotonic() < deadline:
            cli(
                "publish",
                "ops-health-checked",
                "--hub",
                "ops-hub",
                "--subject",
                f"service/{name}",
                "--data",
                '{"status":"green"}',
            )
            if select.select([follower.stdout], [], [], 1.0)[0]:
                line = follower.stdout.readline()
                if not line:  # the end of its output: the follower exited
                    follower.wait(10)
                    pytest.fail(f"tail exited ({follower.returncode}): {follower.stderr.read()[-2000:]}")
        assert name in line and "green" in line
    finally:
        follower.terminate()
        follower.wait(10)


def test_bad_input_is_one_line_and_the_mesh_keeps_going(cli, running_mesh):
    cases = {
        ("ops-teleported", '{"status":"green"}'): "unknown event type 'ops-teleported'",
        ("ops-health-checked", '{"status":"blue"}'): "$.data.status",
        ("ops-health-checked", "{status"): "--data is not valid JSON",
    }
    for (event_type, data), expected in cases.items():
        result = cli("publish", event_type, "--hub", "ops-hub", "--subject", "service/bad", "--data", data)
        assert result.exit_code == 1
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    big = json.dumps({"status": "green", "observations": {"blob": "x" * (1 << 20)}})
    result = cli("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", "service/bad", "--data", big)
    assert result.exit_code == 1 and "over the 1048576-byte limit" in result.stderr
    # Nothing of the bad input was stored, and a good event still flows.
    assert "service/bad" not in cli("tail", "--no-follow", "--hub", "ops-hub").stdout
    name = service()
    cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        f"service/{name}",
        "--data",
        '{"status":"green"}',
    )
    wait_until(lambda: summary_status(cli, name) == "green", timeout=10, what="a good event after bad ones")


def test_missing_servers_are_named(cli, monkeypatch, mesh_env):
    monkeypatch.setenv("VSMESH_NATS_URL", "nats://127.0.0.1:1")
    result = cli("tail", "--no-follow")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: cannot reach NATS at nats://127.0.0.1:1: is the mesh up (`vsmesh up`) or VSMESH_NATS_URL right?"
    )
    monkeypatch.setenv("VSMESH_NATS_URL", mesh_env["VSMESH_NATS_URL"])
    monkeypatch.setenv("VSMESH_DATABASE_URL", "postgresql://postgres@/postgres?host=/nonexistent")
    result = cli("status")
    assert result.exit_code == 1
    assert "cannot reach PostgreSQL at postgresql://postgres@/postgres?host=/nonexistent" in result.stderr


def test_status_shows_streams_and_projector_lag(cli, running_mesh):
    name = service()
    cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        f"service/{name}",
        "--data",
        '{"status":"green"}',
    )
    wait_until(lambda: summary_status(cli, name) == "green", timeout=10, what="projection")
    status = json.loads(cli("status", "--json").stdout)
    streams = {s["stream"]: s for s in status["streams"]}
    assert set(streams) == {"OPERATIONAL", "TACTICAL", "STRATEGIC", "CONSTITUTIONAL", "QUARANTINE"}
    assert streams["OPERATIONAL"]["messages"] > 0
    ops = next(p for p in status["projectors"] if p["hub"] == "ops-hub")
    assert ops["position"] > 0 and ops["lag"] >= 0

    def ops_lag() -> int:
        rows = json.loads(cli("status", "--json").stdout)["projectors"]
        return next(p["lag"] for p in rows if p["hub"] == "ops-hub")

    # On the shared mesh other writers may add events meanwhile: the lag is seen to reach 0, not assumed to be.
    wait_until(lambda: ops_lag() == 0, timeout=20, what="ops-hub's projector to reach the head")
    # Couplings show beside the projectors, with their lag and last error.
    couplings = {c["name"]: c for c in status["couplings"]}
    assert couplings["ops-incident-to-dev-blocker"]["enabled"]

    def coupling_lag() -> int:
        rows = json.loads(cli("status", "--json").stdout)["couplings"]
        return next(c["lag"] for c in rows if c["name"] == "ops-incident-to-dev-blocker")

    # Its lag is a count the running reactor brings to 0 (not just any integer): nothing is left behind.
    wait_until(lambda: coupling_lag() == 0, timeout=20, what="the coupling to reach the head")


def test_expect_seq_refuses_a_stale_writer_in_one_line(cli, running_mesh):
    entity = f"service/{service()}"
    first = cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        entity,
        "--data",
        '{"status":"green"}',
        "--expect-seq",
        "0",
    )
    assert first.exit_code == 0, first.stderr
    seq = first.stdout.split()[-1]
    second = cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        entity,
        "--data",
        '{"status":"red"}',
        "--expect-seq",
        seq,
    )
    assert second.exit_code == 0, second.stderr
    stale = cli(
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        entity,
        "--data",
        '{"status":"amber"}',
        "--expect-seq",
        seq,
    )
    assert stale.exit_code == 1
    assert stale.stderr.startswith(f"error: {entity} of ops-hub changed since sequence {seq}")
    assert len(stale.stderr.strip().splitlines()) == 1


def test_tail_refuses_a_bad_since_or_two_filters_in_one_line(cli):
    bad_since = cli("tail", "--no-follow", "--since", "xx")
    assert bad_since.exit_code == 1
    assert bad_since.output.strip() == ("error: --since 'xx': use a duration like 10m, 2h, 1d or a sequence number")
    both = cli("tail", "--no-follow", "--hub", "ops-hub", "operational.>")
    assert both.exit_code == 1 and both.output.strip() == "error: give either SUBJECT_FILTER or --hub, not both"


def test_a_coded_hub_refuses_a_type_it_does_not_declare(cli, running_mesh, settings):
    """Vocabulary holds for coded hubs too: refused at the edge in one line, quarantined when it comes raw."""
    refused = cli("publish", "ops-health-checked", "--hub", "fin-hub", "--subject", "service/x", "--data",
                  '{"status":"green"}')  # fmt: skip
    assert refused.exit_code == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "fin-hub does not accept 'ops-health-checked'" in refused.stderr

    entity = f"service/vocab-{uuid.uuid4().hex[:6]}"

    async def raw() -> int:
        nc = await connect(settings)
        try:  # the publisher does not check vocabulary: as any raw client would
            p = Publisher(nc.jetstream(), settings)
            event = p.build("ops-health-checked", hub="fin-hub", subject=entity, data={"status": "green"})
            return (await p.publish(event)).sequence
        finally:
            await nc.close()

    async def quarantined() -> list:
        nc = await connect(settings)
        try:
            return [q for q in await list_quarantined(nc.jetstream()) if q.origin_seq == seq]
        finally:
            await nc.close()

    seq = asyncio.run(raw())
    [found] = wait_until(lambda: asyncio.run(quarantined()), timeout=15, what="the undeclared event quarantined")
    assert "ops-health-checked is not declared by fin-hub" in found.reason and found.found_by == "fin-hub"
