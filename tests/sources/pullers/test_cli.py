"""`vsmesh pull list|run`: the file's pullers, and one pull now — `--dry-run` shows what would be published and
stores nothing; a tool's error is one line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sources.pullers.conftest import Answer, Recorded


def _file(recorded: Recorded, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "pullers.yaml"
    path.write_text(f"pullers:\n  - name: {name}\n    kind: opencost\n    every: 1h\n    url: {recorded.url}\n")
    return path


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
    # Three services on each closed day (today's partial set is not among them), none stored.
    services = sorted({e["subject"] for e in dry["events"]})
    assert services == [f"service/{s}-{recorded.u}" for s in ("gitea", "monitoring", "observability")]
    assert dry["dry_run"] and all(e["stored"] is None and e["why"] == "new" for e in dry["events"])
    table = cli("pull", "run", name, "--file", str(path), "--dry-run").stdout
    assert f"{name}: read 9, would publish 6 event(s)" in table and "fin-cost-recorded" in table
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
