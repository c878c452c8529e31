"""`vsmesh probe run --once` and `vsmesh probe list` as a person runs them."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from vsmesh.cli.output import console


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
