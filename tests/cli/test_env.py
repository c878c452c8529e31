"""`eval "$(vsmesh env)"` in another terminal and another directory: the commands that act on the mesh itself
(agents, tokens, users, NATS users, probes) find the running mesh from the printed environment alone, and a data
dir no mesh runs from is refused in one line before anything is written there."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import exported


@pytest.fixture
def printed(cli, running_mesh, session_dir: Path) -> dict[str, str]:
    """What `vsmesh env` prints for the session's mesh (run where its servers are known, as in its terminal)."""
    shown = cli("env", "--data-dir", str(session_dir / "up"))
    assert shown.exit_code == 0, shown.output
    return exported(shown.stdout)


def test_the_printed_environment_reaches_the_running_mesh_from_another_directory(
    printed, cli_in, session_dir: Path, tmp_path: Path
):
    up = (session_dir / "up").resolve()
    assert printed["VSMESH_DATA_DIR"] == str(up)
    name = f"env-bot-{uuid.uuid4().hex[:6]}"

    # The agent is registered with the running mesh's issuer, its credentials written beside that mesh
    added = cli_in(printed, tmp_path, "agent", "add", name)
    assert added.exit_code == 0, added.output
    assert (up / "agents" / f"{name}.json").exists()

    # ... so the running gateway gives it a token and takes that token for it
    token = cli_in(printed, tmp_path, "gateway", "token", name)
    assert token.exit_code == 0, token.output
    gateway = printed["VSMESH_GATEWAY_URL"]
    me = httpx.get(f"{gateway}/whoami", headers={"Authorization": f"Bearer {token.stdout.strip()}"}).json()
    assert (me["subject"], me["kind"]) == (name, "agent")

    # The probe runner proves itself with the mesh's issuer and publishes to its ops-hub
    probes = tmp_path / "probes.yaml"
    port = urlsplit(gateway).port
    probes.write_text(
        f"probes:\n  - name: env-{name}\n    entity: access-path/env-{name}\n    kind: tcp\n    interval: 30s\n"
        f"    host: 127.0.0.1\n    port: {port}\n    conditions: ['[CONNECTED] == true']\n"
    )
    ran = cli_in(printed, tmp_path, "probe", "run", str(probes), "--once", "--json")
    assert ran.exit_code == 0, ran.output
    [result] = json.loads(ran.stdout)
    assert result["passed"] is True and result["event"]

    # This mesh runs on the session's outside NATS server: its users are made there, and it says so
    issued = cli_in(printed, tmp_path, "creds", "issue", "ops-hub")
    assert issued.exit_code == 1
    assert issued.stderr.splitlines() == [
        "error: VSMESH_NATS_URL points at an outside NATS server; create users in that server's config"
    ]

    assert not (tmp_path / ".vsmesh").exists()  # nothing went to the directory the commands ran in


NO_MESH_COMMANDS = {
    "creds issue": ["creds", "issue", "ops-hub"],
    "agent add": ["agent", "add", "lost-bot"],
    "agent list": ["agent", "list"],
    "gateway token": ["gateway", "token", "lost-bot"],
    "user add": ["user", "add", "ada", "--password", "long-enough-pw"],
    "rotate-key": ["gateway", "rotate-key"],
    "env": ["env"],
    "mcp --print-config": ["mcp", "--print-config", "lost-bot"],
    "probe run": ["probe", "run", "probes.yaml", "--once"],
}


@pytest.mark.parametrize("command", NO_MESH_COMMANDS.values(), ids=NO_MESH_COMMANDS.keys())
@pytest.mark.parametrize("pointed", ["flag", "cwd"])
def test_a_data_dir_no_mesh_runs_from_is_refused_in_one_line_and_left_untouched(
    cli_in, tmp_path: Path, command: list[str], pointed: str
):
    # A terminal where `vsmesh env` was never evaluated: the default ./.vsmesh, or a data dir given by flag
    data_dir = (tmp_path / "elsewhere") if pointed == "flag" else (tmp_path / ".vsmesh")
    flag = ["--data-dir", str(data_dir)] if pointed == "flag" else []
    (tmp_path / "probes.yaml").write_text(
        "probes:\n  - name: p\n    entity: access-path/p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n"
        "    conditions: ['[CONNECTED] == true']\n"
    )
    done = cli_in({}, tmp_path, *command, *flag)
    assert done.exit_code == 1
    [line] = done.stderr.splitlines()
    assert f"no mesh is running in {data_dir}: start it with `vsmesh up --data-dir {data_dir}`" in line
    assert "point VSMESH_DATA_DIR at the running mesh" in line
    assert not data_dir.exists()
