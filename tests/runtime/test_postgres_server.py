"""The embedded PostgreSQL as root: it never widens a directory the user owns, wherever the data dir is.

PostgreSQL's system user cannot reach into a 0700 home; the server binaries and such a data dir's cluster
live where that user can reach them by design (runtime/postgres_server.py). CI runs as root, as these tests must.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import pytest

from vsmesh.runtime.postgres_server import (
    POSTGRES_BIN_PATH,
    SystemPlaces,
    postmaster_pid,
    start_postgres,
    stop_postgres,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the system-user layout exists only when run as root")


def modes(path: Path) -> dict[str, int]:
    """The mode of `path`'s every parent (and its own, when it exists)."""
    chain = [p for p in [path, *path.parents] if p.exists()]
    return {str(p): p.stat().st_mode & 0o7777 for p in chain}


def tree_modes(root: Path) -> dict[str, int]:
    return {str(p): p.lstat().st_mode & 0o7777 for p in [root, *root.rglob("*")]}


async def answers(url: str, query: str = "select 1"):
    """The first value `query` answers on the server at `url`."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


@pytest.fixture
def places():
    """A home of its own (0755, as /var/lib is): the test sees the binaries copied and clusters placed."""
    home = Path(tempfile.mkdtemp(prefix="vsmesh-pghome-"))
    home.chmod(0o755)
    yield SystemPlaces(home=home / "lib")
    for cluster in (home / "lib" / "clusters").glob("*/pgdata"):
        stop_postgres(cluster, SystemPlaces(home=home / "lib"))
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def private_dir():
    """A directory only root may enter, like /root on most systems."""
    path = Path(tempfile.mkdtemp(prefix="vsmesh-private-"))
    assert path.stat().st_mode & 0o777 == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


def starts_in_place(pgdata: Path, places: SystemPlaces, query: str = "select 1"):
    """Start the cluster of `pgdata`, ask `query`, stop it: what `query` answered. No parent of the data dir
    and nothing of the wheel in the venv changes mode on the way."""
    data = pgdata.parent
    before, wheel_before = modes(data), tree_modes(POSTGRES_BIN_PATH)
    url = start_postgres(pgdata, places)
    try:
        answered = asyncio.run(answers(url, query))
    finally:
        stop_postgres(pgdata, places)
    assert modes(data) == before  # every parent, the data dir itself included
    assert tree_modes(POSTGRES_BIN_PATH) == wheel_before  # the wheel in the venv is left as it was
    assert (pgdata / "PG_VERSION").exists()
    binaries = places.home / "postgres"
    assert all(p.stat().st_uid == 0 and p.stat().st_mode & 0o777 == 0o755 for p in [places.home, binaries])
    return answered


def test_a_cluster_in_reach_stays_in_the_data_dir(places, private_dir):
    private_dir.chmod(0o755)
    (private_dir / "open").mkdir()
    (private_dir / "open").chmod(0o755)
    (private_dir / "open" / "data").mkdir()
    pgdata = private_dir / "open" / "data" / "postgres"
    assert starts_in_place(pgdata, places) == 1
    assert not pgdata.is_symlink()


def test_a_cluster_out_of_reach_lives_in_the_home_keeps_its_data_and_goes_with_its_data_dir(places, private_dir):
    """One cluster through its life: placed in the home (linked from the 0700 data dir, nothing opened),
    stopped and started again with its data, removed at the next start of any cluster once its data dir is
    deleted."""
    gone = private_dir / "gone"
    gone.mkdir()
    pgdata = gone / "postgres"
    assert starts_in_place(pgdata, places, "create table kept as select 42 as v") is None
    assert pgdata.is_symlink() and pgdata.resolve().is_relative_to(places.home / "clusters")
    assert postmaster_pid(pgdata) is None
    assert starts_in_place(pgdata, places, "select v from kept") == 42

    cluster_home = pgdata.resolve().parent
    shutil.rmtree(gone)
    kept = private_dir / "kept" / "postgres"
    kept.parent.mkdir()
    start_postgres(kept, places)
    try:
        assert not cluster_home.exists()
        assert kept.resolve().exists()
    finally:
        stop_postgres(kept, places)


def up(cli_in, data_dir: Path, env: dict[str, str]):
    """`vsmesh up --detach` as from a terminal with only `env` set (in-process; the mesh is its own process)."""
    return cli_in(env, data_dir.parent, "up", "--detach", "--no-demo", "--data-dir", str(data_dir))


def down(cli_in, data_dir: Path, env: dict[str, str]) -> None:
    cli_in(env, data_dir.parent, "down", "--data-dir", str(data_dir))


def test_a_noexec_home_is_one_line(private_dir, cli_in):
    mount = private_dir / "noexec"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a noexec tmpfs here: {done.stderr.decode().strip()}")
    env = {"VSMESH_POSTGRES_HOME": str(mount)}
    try:
        result = up(cli_in, private_dir / "mesh", env)
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        down(cli_in, private_dir / "mesh", env)
    assert result.exit_code == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "noexec" in error[0] and "VSMESH_POSTGRES_HOME" in error[0]


def test_a_system_user_that_cannot_be_created_is_one_line(places, private_dir, cli_in):
    # No `useradd` on PATH stands in for any reason root cannot add the user (a read-only /etc, a policy).
    bare = private_dir / "bin"
    bare.mkdir()
    env = {
        "VSMESH_POSTGRES_HOME": str(places.home),
        "VSMESH_POSTGRES_USER": f"vsmesh-none-{os.getpid()}",
        "PATH": str(bare),
    }
    result = up(cli_in, private_dir / "mesh", env)
    down(cli_in, private_dir / "mesh", env)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "cannot create the system user" in error[0] and "useradd --system" in error[0]


def test_make_test_passes_from_a_checkout_in_a_private_home(private_dir, places):
    """The README's `make test`, from a copy of this checkout inside a 0700 directory (a subset of tests)."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=checkout, capture_output=True, check=True).stdout
    clone = private_dir / "vsmesh"
    for name in filter(None, files.decode().split("\0")):
        source = checkout / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSMESH_", "PYTEST_"))}
    env["VSMESH_POSTGRES_HOME"] = str(places.home)  # a fresh one: the binaries are copied from the private venv
    env["PYTHON"] = _base_python()
    before = modes(private_dir)
    result = subprocess.run(
        ["make", "test", "TEST_JOBS=1", "PYTEST_ARGS=tests/projectors/test_driver.py tests/bus/test_streams.py"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "error" not in result.stdout.splitlines()[-1]
    assert modes(private_dir) == before
    assert (places.home / "postgres").exists()


def _base_python() -> str:
    """The interpreter this venv was made from: `make` makes the copy's own venv with it."""
    return str(Path(sys.base_prefix) / "bin" / "python3")
