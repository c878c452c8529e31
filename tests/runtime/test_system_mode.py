"""`vsmesh up --system`: started as root, the mesh runs as an OS user of its own (made for this test, removed after)
with its data dir 0700 and that user's; a process of another OS user (`nobody`: the operator's shell, a coding agent
in it) holding an agent's token cannot read the admin credentials or keys, publish as a person, revert, or grant
itself a mandate — each refused, each refusal an event and a line in the mesh's log.

The mesh runs on the system's python with the project's site-packages added (the project's own interpreter lives in
root's 0700 home, which the mesh's user may not enter), embedded nats-server and PostgreSQL as in `make run`.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.gateway.people_cli import SYSTEM_PYTHON, intruder_refused, read_event
from tests.signing_in import sign_in
from vsmesh.bus.creds import creds_path
from vsmesh.gateway.identity.keys import keys_path
from vsmesh.runtime.mesh_state import load_state, with_mesh
from vsmesh.settings import Settings

# The project's packages on the system's python: its site dir (with the editable install's finder) added first.
BOOT = (
    "import site, sys; site.addsitedir({site!r}); sys.argv[0] = 'vsmesh'; from vsmesh.cli.app import app; app()"
).format(site=sysconfig.get_path("purelib"))
PERSON, PASSWORD = "ada", "ada's system password"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="system mode is started as root; the suite runs as root")


def vsmesh_as(user: str | None, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI on the system's python, as `user` (None: as root)."""
    return subprocess.run([SYSTEM_PYTHON, "-c", BOOT, *args], env=env, capture_output=True, text=True, timeout=120,
                          user=user, cwd="/tmp")  # fmt: skip


@pytest.fixture
def mesh_user() -> Iterator[str]:
    """An OS user of the mesh's own, for this test alone."""
    name = f"vsm-{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    yield name
    subprocess.run(["userdel", name], check=False)


@pytest.fixture
def system_mesh(mesh_user: str) -> Iterator[tuple[Path, dict[str, str], Path]]:
    """`vsmesh up --system --user <mesh user>` started as root, until the test ends: its data dir, the env it ran
    with, and its log (JSON lines on its stderr, as under a service manager)."""
    base = Path(tempfile.mkdtemp(prefix="vsmesh-system-"))
    base.chmod(0o755)  # the mesh's user enters it to reach its own data dir
    data_dir = base / "mesh"
    env = {"PATH": f"{Path(sysconfig.get_path('scripts'))}:/usr/bin:/bin", "HOME": "/nonexistent",
           "VSMESH_LOG_FORMAT": "json"}  # fmt: skip
    log = base / "up.log"
    with log.open("wb") as out:
        args = ["up", "--system", "--user", mesh_user, "--data-dir", str(data_dir), "--no-demo"]
        up = subprocess.Popen([SYSTEM_PYTHON, "-c", BOOT, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                              cwd="/tmp")  # fmt: skip
    try:
        wait_until(lambda: (data_dir / "mesh.json").exists() and load_state(data_dir).ready, timeout=240,
                   what="the system-mode mesh to be ready", proc=up, log=log)  # fmt: skip
        yield data_dir, env, log
    finally:
        up.terminate()
        up.wait(60)
        shutil.rmtree(base, ignore_errors=True)


def owner(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def uid_of(pid: int) -> str:
    uid = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line[:4] == "Uid:")
    return pwd.getpwuid(int(uid)).pw_name


def test_the_mesh_runs_as_its_own_user_and_another_user_gets_nothing(system_mesh, mesh_user):
    data_dir, env, log = system_mesh
    state = load_state(data_dir)
    # The data dir and every secret in it are the mesh's user's alone; the mesh and its nats-server run as it.
    assert owner(data_dir) == mesh_user and stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    admin = creds_path(data_dir, "admin")
    assert owner(admin) == mesh_user and stat.S_IMODE(admin.stat().st_mode) == 0o600
    assert uid_of(state.supervisor_pid) == uid_of(state.nats_pid) == mesh_user

    # People and agents are added as the mesh's user (README: System mode), as root cannot without leaving files
    # the mesh may not read.
    added = vsmesh_as(mesh_user, "user", "add", PERSON, "--password", PASSWORD, "--data-dir", str(data_dir), env=env)
    assert added.returncode == 0, added.stderr
    intruder = f"intruder-{uuid.uuid4().hex[:6]}"
    agent = vsmesh_as(mesh_user, "agent", "add", intruder, "--data-dir", str(data_dir), env=env)
    assert agent.returncode == 0, agent.stderr
    creds = json.loads((data_dir / "agents" / f"{intruder}.json").read_text())
    token = httpx.post(f"{state.gateway_url}/token", data={"grant_type": "client_credentials"},
                       auth=(creds["client_id"], creds["client_secret"])).json()["access_token"]  # fmt: skip

    # Another OS user's process, holding only that agent's token, tries what a person may do and reads the secrets:
    # each refused, each refusal an event whose actor is the intruder.
    settings = with_mesh(Settings(data_dir=data_dir))
    intruder_refused(settings, state.gateway_url or "", admin, keys_path(data_dir), intruder, token)
    # Nor can it even list the data dir.
    listing = subprocess.run(["ls", str(data_dir)], capture_output=True, text=True, user="nobody", timeout=30)
    assert listing.returncode != 0 and "Permission denied" in listing.stderr

    # ...and each a line in the mesh's log.
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    warned = [x for x in lines if x.get("event") == "person's write refused" and x.get("actor") == intruder]
    assert len(warned) == 3

    # The person signs in with the password given as the mesh's user, and writes through the gateway as herself.
    session = sign_in(state.gateway_url or "", data_dir.parent / "ada", PERSON, PASSWORD)
    body = {"type": "ops-health-checked", "hub": "ops-hub", "subject": "service/system", "data": [{"status": "green"}]}
    written = httpx.post(f"{state.gateway_url}/people/publish", json=body,
                         headers={"Authorization": f"Bearer {session.access_token}"})  # fmt: skip
    assert written.status_code == 200, written.text
    [stored] = written.json()["results"]
    event = read_event(settings, stored["stream"], stored["sequence"])
    assert (event["actor"], event["actorkind"]) == (PERSON, "human")


def test_system_mode_names_a_missing_user_with_the_fix(tmp_path):
    done = vsmesh_as(None, "up", "--system", "--user", "no-such-vsmesh-user", "--data-dir", str(tmp_path / "d"),
                     env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})  # fmt: skip
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "OS user 'no-such-vsmesh-user', which does not exist: create it (`sudo useradd" in line
