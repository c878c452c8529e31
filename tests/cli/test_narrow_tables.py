"""A standard 80-column terminal reads the tables in full: no line longer than 80, no hub, stream, coupling,
service or probe name cut to `…`, durations as `3d` rather than seconds; `--wide` shows every column, `--json`
keeps the numbers. Run against the session's mesh, in-process."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import wait_until
from vsmesh.cli.output import console, duration


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    # The console reads COLUMNS once, when the first test of the process imported the CLI: set its width too.
    monkeypatch.setattr(console, "width", 80)


def answered(cli, *command: str) -> dict:
    """A command's --json answer; empty while it fails (a call the loaded machine let time out is asked again)."""
    done = cli(*command, "--json")
    return json.loads(done.stdout) if done.exit_code == 0 else {}


def fits(output: str) -> list[str]:
    """The output's lines, each checked to fit 80 columns with nothing cut to `…`."""
    lines = output.splitlines()
    assert not [line for line in lines if len(line) > 80], output
    assert "…" not in output, output
    return lines


def row(lines: list[str], first: str, edge: str = "│") -> list[str]:
    """The cells of the table line whose first cell is `first`."""
    found = [line for line in lines if line.startswith(f"{edge} {first} ")]
    assert found, f"no line for {first}"
    return [cell.strip() for cell in found[0].split(edge)[1:-1]]


def header(lines: list[str], first: str) -> list[str]:
    """A table's column names, each whole on one line (a folded or cut header is no compact table)."""
    return row(lines, first, edge="┃")


def test_status_fits_80_columns_with_a_line_per_hub_and_wide_shows_every_stream(cli, running_mesh, narrow):
    def reported() -> dict | None:  # `vsmesh up` reports its projectors every few seconds: the registry's too
        answer = json.loads(cli("status", "--json").stdout)
        running = {p["hub"] for p in answer["projectors"] if p["running"]}
        return answer if {"ops-hub", "registry"} <= running else None

    answer = wait_until(reported, timeout=60, what="the mesh to report its projectors")
    lines = fits(cli("status").output)
    assert header(lines, "hub") == ["hub", "lag", "quarantined", "reverts", "running"]
    # One line per hub, its name in full: the worst lag over its streams, where it runs.
    for hub in {p["hub"] for p in answer["projectors"]}:
        mine = [p for p in answer["projectors"] if p["hub"] == hub]
        cells = row(lines, hub)
        assert cells[1].isdigit() and cells[3] == mine[0]["reverts"], cells
        assert cells[4] == (mine[0]["running"] or "not running"), cells
    for coupling in answer["couplings"]:
        # Its lag as a number, or off: the number itself moves on a live mesh between the two calls.
        lag = row(lines, coupling["name"])[1]
        assert lag == "off" or lag.isdigit(), (coupling, lag)
    for check in answer["checks"]:
        assert row(lines, check["check"])[1].endswith(" ago")

    # --wide: a line per hub and stream with every column, running past 80 rather than cut.
    wide = cli("status", "--wide").output
    assert "events/s" in wide and "last snapshot" in wide and "…" not in wide
    assert any(len(line) > 80 for line in wide.splitlines())
    ops = [line for line in wide.splitlines() if line.startswith("│ ops-hub ")]
    assert len(ops) == len([p for p in answer["projectors"] if p["hub"] == "ops-hub"]) > 1
    assert {row([line], "ops-hub")[1] for line in ops} == {"OPERATIONAL", "TACTICAL", "STRATEGIC", "CONSTITUTIONAL"}


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    """A backup set whose newest file is three days old."""
    folder = tmp_path / "backups"
    folder.mkdir()
    dump = folder / "db.dump"
    dump.write_text("x")
    three_days_ago = time.time() - 3 * 86_400
    os.utime(dump, (three_days_ago, three_days_ago))
    return folder


def test_the_first_hours_tables_fit_80_columns_with_names_whole(cli, running_mesh, session_dir, backups, narrow):
    assert cli("demo").exit_code == 0  # services, hubs from manifests, couplings that have emitted
    # Couplings: the longest name whole, from → to, lag.
    couplings = json.loads(cli("couplings", "--json").stdout)
    lines = fits(cli("couplings").output)
    assert header(lines, "coupling") == ["coupling", "from → to", "lag", "emitted"]
    for c in couplings:
        assert row(lines, c["name"])[1] == f"{c['from'].removesuffix('-hub')} → {c['to'].removesuffix('-hub')}"
    assert "position" in cli("couplings", "--wide").output  # positions per stream, with --wide
    # ops services: each service's name whole (an uncatalogued one says so on the line below), its health.
    services = wait_until(lambda: answered(cli, "ops", "services").get("services"), what="ops-hub's services")
    lines = fits(cli("ops", "services").output)
    assert header(lines, "service") == ["service", "health", "environment", "runs on", "evidence"]
    for s in services:
        assert row(lines, s["name"])[1] == (s["status"] or "unknown")
    assert "reached via" in cli("ops", "services", "--wide").output
    # Registered hubs, each slug whole.
    hubs = wait_until(lambda: answered(cli, "hub", "list").get("hubs"), what="registered hubs")
    lines = fits(cli("hub", "list").output)
    assert header(lines, "hub") == ["hub", "name", "VSM", "manifest", "widgets"]
    assert all(row(lines, h["slug"]) for h in hubs)
    assert "widget types" in cli("hub", "list", "--wide").output

    # The other tables a person meets first fit too; --wide keeps what they leave out.
    firsts = ["risks ops-hub", "escalations canon-hub", "sec findings", "sec exceptions", "legal vendors",
              "ops readiness coulombcore-to-threephoenix", "hub show ops-hub"]  # fmt: skip
    for args in firsts:
        fits(cli(*args.split()).output)
    assert "installed_version" in cli("sec", "findings", "--wide").output

    # A point-in-time copy in the list, its name whole.
    copy = f"narrow-tables-{uuid.uuid4().hex[:6]}"
    assert cli("rebuild", "ops-hub", "--into", copy, "--as-of", "1m").exit_code == 0
    try:
        assert row(fits(cli("rebuild", "--list").output), copy)[4] == "complete"
    finally:
        cli("rebuild", "--drop", copy)

    # A probe run: names whole, a backup three days old reads `3d`; --json keeps the seconds for scripts.
    name = f"nightly-database-backup-{uuid.uuid4().hex[:6]}"
    probes = backups.parent / "probes.yaml"
    probes.write_text(f"""\
probes:
  - name: {name}
    entity: backup-set/{name}
    kind: backup
    interval: 5m
    path: {backups}
    conditions: ["[BACKUP_AGE] < 26h"]
""")
    up = ["--data-dir", str(session_dir / "up")]  # the mesh's own: its probe runner's identity is registered there
    ran = cli("probe", "run", str(probes), "--once", *up)
    assert ran.exit_code == 0, ran.output
    lines = fits(ran.stdout)
    assert header(lines, "probe") == ["probe", "passed", "why"]
    assert row(lines, name)[1:] == ["FAIL", "[BACKUP_AGE] < 26h (saw 3d)"]
    seconds = json.loads(cli("probe", "run", str(probes), "--once", "--json", *up).stdout)[0]["why"]
    assert seconds.startswith("[BACKUP_AGE] < 26h (saw 259")
    assert f"backup-set/{name}" in cli("probe", "run", str(probes), "--once", "--wide", *up).stdout
    listed = fits(cli("probe", "list", str(probes), *up).stdout)
    assert row(listed, name)[1:3] == ["5m", "FAIL"]
    assert "3d)" in "\n".join(listed) and "259" not in "\n".join(listed)  # the evidence column, folded


def test_a_duration_reads_at_a_glance() -> None:
    seconds = [0.0123, 0, 90, 300, 26 * 3600, 3 * 86_400 + 7, -4 * 86_400]
    assert [duration(s) for s in seconds] == ["12ms", "0s", "90s", "5m", "26h", "3d", "-4d"]
