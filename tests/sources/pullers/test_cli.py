"""`vsmesh pull list|run`: the file's pullers, and one pull now — `--dry-run` shows what would be published and
stores nothing; a tool's error is one line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.sources.pullers.conftest import RECORDED, Answer, Recorded


def _file(recorded: Recorded, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "pullers.yaml"
    path.write_text(f"pullers:\n  - name: {name}\n    kind: opencost\n    every: 1h\n    url: {recorded.url}\n")
    return path


def _closed_days(today: dt.date) -> list[tuple[str, str]]:
    """(namespace, day) of the recorded allocations of days before `today`, idle left out."""
    body = json.loads((RECORDED / "opencost-allocation.json").read_text())
    days = [(name, a["window"]["start"][:10]) for day in body["data"] for name, a in day.items() if name != "__idle__"]
    return [(name, day) for name, day in days if dt.date.fromisoformat(day) < today]


def test_list_names_each_puller(cli, recorded, tmp_path):
    path = _file(recorded, tmp_path, "costs")
    shown = json.loads(cli("pull", "list", "--file", str(path), "--json").stdout)
    assert shown == [{"name": "costs", "kind": "opencost", "every_s": 3600.0, "reads": recorded.url}]


def test_run_dry_run_shows_the_plan_and_stores_nothing_then_run_stores_it(cli, running_mesh, recorded, tmp_path):
    recorded.token = None
    recorded.routes["/allocation/compute"] = Answer("opencost-allocation.json")
    name = f"cli-{recorded.u}"
    path = _file(recorded, tmp_path, name)
    dry = json.loads(cli("pull", "run", name, "--file", str(path), "--dry-run", "--json").stdout)
    # The three services of the closed days, none stored.
    services = sorted({e["subject"] for e in dry["events"]})
    assert services == [f"service/{s}-{recorded.u}" for s in ("gitea", "monitoring", "observability")]
    assert dry["dry_run"] and all(e["stored"] is None and e["why"] == "new" for e in dry["events"])
    # The recording holds 5 and 6 December and the first hours of the 7th: which days are closed is the CLI's
    # today's to say (the end of the window it asked for), so the count holds on any date.
    today = dt.date.fromisoformat(parse_qs(urlsplit(recorded.requests[-1]).query)["window"][0].split(",")[1][:10])
    closed = _closed_days(today)
    assert len(dry["events"]) == len(closed) >= 6
    table = cli("pull", "run", name, "--file", str(path), "--dry-run").stdout
    assert f"{name}: read 9, would publish {len(closed)} event(s)" in table and "fin-cost-recorded" in table
    # Run for real: each event stored at a sequence; the plan was the dry run's.
    done = json.loads(cli("pull", "run", name, "--file", str(path), "--json").stdout)
    assert [e["event"] for e in done["events"]] == [e["event"] for e in dry["events"]]
    assert all(isinstance(e["stored"], int) for e in done["events"])


def test_run_names_an_unknown_puller_and_a_tool_error_in_one_line(cli, running_mesh, recorded, tmp_path):
    path = _file(recorded, tmp_path, "costs")
    unknown = cli("pull", "run", "billing", "--file", str(path))
    assert unknown.exit_code == 1
    assert unknown.stderr == "error: no puller 'billing' in the file; it names costs (`vsmesh pull list`)\n"
    recorded.routes["/allocation/compute"] = Answer("opencost-502.html", status=502, content_type="text/html")
    broken = cli("pull", "run", "costs", "--file", str(path))
    assert broken.exit_code == 1 and broken.stderr.count("\n") == 1
    assert broken.stderr.startswith(f"error: OpenCost at {recorded.url}/allocation/compute answered HTTP 502")
