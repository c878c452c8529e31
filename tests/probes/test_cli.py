"""`vsmesh probe run --once` and `vsmesh probe list` as a person runs them."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import VSMESH
from vsmesh.bus.connection import connect
from vsmesh.bus.subjects import entity_token
from vsmesh.cli.output import console
from vsmesh.probes.examples.local_servers import BEARER_TOKEN


@pytest.fixture
def probe_file(tmp_path: Path, http_port: int, closed_port: int) -> tuple[Path, str]:
    u = uuid.uuid4().hex[:8]
    path = tmp_path / "probes.yaml"
    path.write_text(f"""\
probes:
  - name: web-{u}
    entity: endpoint/web-{u}
    kind: http
    interval: 30s
    url: http://127.0.0.1:{http_port}/
    conditions: ["[STATUS] == 200"]
  - name: ssh-{u}
    entity: access-path/ssh-{u}
    kind: tcp
    interval: 30s
    host: 127.0.0.1
    port: {closed_port}
    conditions: ["[CONNECTED] == true"]
""")
    return path, u


def test_run_once_then_list_shows_each_probes_last_result_and_age(
    cli, running_mesh, probe_file, probes_service, monkeypatch
):
    # The table's width, so names are not folded. The console reads COLUMNS when it is made, i.e. when the
    # first test of this process imported the CLI: an env var set here came too late in a random order.
    monkeypatch.setattr(console, "width", 250)
    # The runner is the service client whose token the gateway's issuer gives and the gateway verifies.
    monkeypatch.setenv("VSMESH_GATEWAY_URL", probes_service.gateway_url)
    monkeypatch.setenv("VSMESH_PROBES_ACTOR", probes_service.name)
    path, u = probe_file
    ran = cli("probe", "run", str(path), "--once", "--json", "--creds", str(probes_service.creds))
    assert ran.exit_code == 0, ran.output
    results = {r["probe"]: r for r in json.loads(ran.stdout)}
    assert results[f"web-{u}"]["passed"] is True
    assert results[f"ssh-{u}"]["passed"] is False and "cannot connect" in results[f"ssh-{u}"]["why"]

    deadline = time.monotonic() + 15
    while True:  # ops-hub applies the evidence within moments
        listed = {p["probe"]: p for p in json.loads(cli("probe", "list", str(path), "--json").stdout)}
        if all(p["passed"] is not None for p in listed.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert listed[f"web-{u}"]["passed"] is True and listed[f"ssh-{u}"]["passed"] is False
    assert 0 <= listed[f"web-{u}"]["age_s"] < 60
    assert listed[f"ssh-{u}"]["event_id"] == results[f"ssh-{u}"]["event"]
    assert listed[f"web-{u}"]["actor"] == probes_service.name  # the verified identity, not a chosen name

    shown = cli("probe", "list", str(path))
    assert f"web-{u}" in shown.output and "pass" in shown.output and "FAIL" in shown.output
    assert "[CONNECTED] == true (saw False)" in shown.output  # why it failed, not only that it did


def test_a_probe_file_with_a_mistake_is_one_line_naming_file_line_and_field(cli, tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "probes:\n  - name: x\n    entity: endpoint/x\n    kind: tcp\n    host: h\n    port: 22\n"
        '    conditions: ["[STATUS] == 200"]\n'
    )
    ran = cli("probe", "run", str(path), "--once")
    assert ran.exit_code == 1
    assert ran.stderr.strip().splitlines() == [
        f"error: {path}:7: probes[0].conditions[0]: '[STATUS] == 200': this probe kind observes no [STATUS]; "
        "it offers CONNECTED, RESPONSE_TIME"
    ]


def test_run_without_the_runners_credentials_says_how_to_make_them(cli, probe_file, probes_service, monkeypatch):
    # A gateway that is not this data dir's mesh: its issuer's client must be made there, not guessed here.
    monkeypatch.setenv("VSMESH_GATEWAY_URL", probes_service.gateway_url)
    monkeypatch.setenv("VSMESH_PROBES_ACTOR", "probes-never-added")
    ran = cli("probe", "run", str(probe_file[0]), "--once")
    assert ran.exit_code == 1
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith("error: no credentials for service probes-never-added at ")
    assert "`vsmesh agent add probes-never-added --kind service`" in line


def stored_subjects(settings, entity: str) -> dict[str, int]:
    """How many events about `entity` ops-hub's operational stream holds, by subject: read from the stream."""

    async def read() -> dict[str, int]:
        nc = await connect(settings, name="test-probe-subjects")
        try:
            info = await nc.jetstream().stream_info("OPERATIONAL", f"operational.ops-hub.*.{entity_token(entity)}")
            return dict(info.state.subjects or {})
        finally:
            await nc.close()

    return asyncio.run(read())


def test_run_is_refused_when_the_gateway_does_not_accept_the_runners_token(
    cli, settings, running_mesh, probe_file, probes_service, monkeypatch
):
    monkeypatch.setenv("VSMESH_GATEWAY_URL", probes_service.gateway_url)
    monkeypatch.setenv("VSMESH_PROBES_ACTOR", probes_service.name)
    path, u = probe_file
    # The issuer gives the service its token, but this gateway takes tokens for another audience only.
    monkeypatch.setenv("VSMESH_OIDC_AUDIENCE", "https://another-gateway.example")
    ran = cli("probe", "run", str(path), "--once", "--creds", str(probes_service.creds))
    assert ran.exit_code == 1 and ran.stdout == ""
    # One line says what is wrong; the rest of stderr is the structured log (JSON records).
    *logged, line = ran.stderr.strip().splitlines()
    assert all(json.loads(record)["event"] for record in logged)
    assert line.startswith(f"error: the issuer's token for {probes_service.name} does not verify at this gateway: ")
    assert "wrong aud" in line
    # Nothing was published: the same run with the gateway's own audience stores each probe's first evidence.
    monkeypatch.delenv("VSMESH_OIDC_AUDIENCE")
    assert cli("probe", "run", str(path), "--once", "--creds", str(probes_service.creds)).exit_code == 0
    assert stored_subjects(settings, f"endpoint/web-{u}") == {
        f"operational.ops-hub.ops-endpoint-verified.endpoint:web-{u}": 1
    }


def test_a_scheduled_run_prints_a_line_when_a_probe_turns_and_stops_on_a_signal(
    mesh_env, running_mesh, probes_service, traffic, tmp_path: Path
):
    u = uuid.uuid4().hex[:8]
    token = tmp_path / "token"
    token.write_text("not-yet-the-token")
    path = tmp_path / "probes.yaml"
    path.write_text(f"""\
probes:
  - name: turn-{u}
    entity: endpoint/turn-{u}
    kind: http
    interval: 300ms
    url: http://127.0.0.1:{traffic.port}/private
    headers:
      Authorization: {{file: {token}, prefix: "Bearer "}}
    conditions: ["[STATUS] == 200"]
""")
    env = {
        **os.environ,
        **mesh_env,
        "VSMESH_GATEWAY_URL": probes_service.gateway_url,
        "VSMESH_PROBES_ACTOR": probes_service.name,
    }
    # A process of its own: what is tested is a run that goes on until a signal stops it.
    proc = subprocess.Popen(
        [*VSMESH, "probe", "run", str(path), "--creds", str(probes_service.creds)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in proc.stdout], daemon=True)
    reader.start()
    printed: list[str] = []

    def until_printed(words: str) -> None:
        deadline = time.monotonic() + 30
        while not any(words in line for line in printed):
            assert time.monotonic() < deadline and proc.poll() is None, f"never printed {words!r}: {printed}"
            try:
                printed.append(lines.get(timeout=0.1))
            except queue.Empty:
                pass

    def runs_after(count: int, more: int) -> None:
        deadline = time.monotonic() + 10
        while len(traffic.of("/private")) < count + more:
            assert time.monotonic() < deadline, "the probe stopped running"
            time.sleep(0.05)

    try:
        until_printed(f"turn-{u} fails: [STATUS] == 200 (saw 401)")
        runs_after(0, 3)  # three failing runs: still the one line
        token.write_text(BEARER_TOKEN)  # the secret file is read at each run
        until_printed(f"turn-{u} passes")
        runs_after(len(traffic.of("/private")), 2)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    reader.join(5)
    while not lines.empty():
        printed.append(lines.get_nowait())
    turns = [line for line in printed if f"turn-{u}" in line]
    assert len(turns) == 2 and turns[0].endswith("fails: [STATUS] == 200 (saw 401)"), printed
    assert printed[0] == "running 1 probes; Ctrl-C stops"
