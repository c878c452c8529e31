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

from tests.conftest import VSMESH
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


@pytest.mark.parametrize("inside", [True, False], ids=["in-0700-dir", "in-0755-dir"])
def test_server_starts_without_changing_any_parent(places, private_dir, inside):
    base = private_dir if inside else private_dir / "open"
    if not inside:
        base.mkdir()
        base.chmod(0o755)
        private_dir.chmod(0o755)
    pgdata = base / "data" / "postgres"
    (base / "data").mkdir()
    before, wheel_before = modes(base / "data"), tree_modes(POSTGRES_BIN_PATH)

    url = start_postgres(pgdata, places)
    try:
        assert asyncio.run(answers(url)) == 1
    finally:
        stop_postgres(pgdata, places)

    assert modes(base / "data") == before  # every parent, the data dir itself included
    assert tree_modes(POSTGRES_BIN_PATH) == wheel_before  # the wheel in the venv is left as it was
    assert (pgdata / "PG_VERSION").exists()
    # Out of reach, the cluster lives in the home and the data dir links to it; in reach, it stays.
    assert pgdata.is_symlink() == inside
    if inside:
        assert pgdata.resolve().is_relative_to(places.home / "clusters")
    binaries = places.home / "postgres"
    assert all(p.stat().st_uid == 0 and p.stat().st_mode & 0o777 == 0o755 for p in [places.home, binaries])


def test_a_stopped_cluster_starts_again_and_keeps_its_data(places, private_dir):
    pgdata = private_dir / "postgres"

    asyncio.run(answers(start_postgres(pgdata, places), "create table kept as select 42 as v"))
    stop_postgres(pgdata, places)
    assert postmaster_pid(pgdata) is None
    assert asyncio.run(answers(start_postgres(pgdata, places), "select v from kept")) == 42
    stop_postgres(pgdata, places)


def test_the_cluster_of_a_deleted_data_dir_is_removed_at_the_next_start(places, private_dir):
    gone = private_dir / "gone"
    gone.mkdir()
    start_postgres(gone / "postgres", places)
    cluster_home = (gone / "postgres").resolve().parent
    stop_postgres(gone / "postgres", places)
    shutil.rmtree(gone)

    kept = private_dir / "kept" / "postgres"
    kept.parent.mkdir()
    start_postgres(kept, places)
    try:
        assert not cluster_home.exists()
        assert kept.resolve().exists()
    finally:
        stop_postgres(kept, places)


def up(data_dir: Path, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | env
    return subprocess.run(
        [*VSMESH, "up", "--detach", "--no-demo", "--data-dir", str(data_dir)],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def down(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
    subprocess.run([*VSMESH, "down", "--data-dir", str(data_dir)], env=env, capture_output=True, timeout=60)


def test_vsmesh_up_in_a_private_dir_opens_nothing(places, private_dir):
    data_dir = private_dir / "mesh"
    before = modes(private_dir)
    try:
        result = up(data_dir, {"VSMESH_POSTGRES_HOME": str(places.home)})
        assert result.returncode == 0, result.stderr
        assert "up in the background" in result.stdout
    finally:
        down(data_dir)
    assert modes(private_dir) == before
    assert postmaster_pid(data_dir / "postgres") is None


def test_a_noexec_home_is_one_line(private_dir):
    mount = private_dir / "noexec"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a noexec tmpfs here: {done.stderr.decode().strip()}")
    try:
        result = up(private_dir / "mesh", {"VSMESH_POSTGRES_HOME": str(mount)})
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        down(private_dir / "mesh")
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "noexec" in error[0] and "VSMESH_POSTGRES_HOME" in error[0]


def test_a_system_user_that_cannot_be_created_is_one_line(places, private_dir):
    # No `useradd` on PATH stands in for any reason root cannot add the user (a read-only /etc, a policy).
    bare = private_dir / "bin"
    bare.mkdir()
    result = up(
        private_dir / "mesh",
        {
            "VSMESH_POSTGRES_HOME": str(places.home),
            "VSMESH_POSTGRES_USER": f"vsmesh-none-{os.getpid()}",
            "PATH": str(bare),
        },
    )
    down(private_dir / "mesh")
    assert result.returncode == 1
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
