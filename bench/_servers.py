"""Real servers for a benchmark run: the env's (VSMESH_NATS_URL…) or embedded ones in a temp dir, and the CPU
their processes spend (`ServerProcesses`), for a bench that says where the cores went."""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vsmesh.runtime.nats_server import start_nats, stop_pid
from vsmesh.runtime.postgres_server import postmaster_pid, start_postgres, stop_postgres
from vsmesh.settings import Settings

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (the 3rd field on), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].decode().split()


def _cpu(fields: list[str], *, reaped: bool) -> float:
    """utime + stime (of all its threads), and with `reaped` its waited-for children's too, in seconds."""
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its finished children (reaped) and its live children: PostgreSQL's postmaster
    with every backend, the ones that have exited included."""
    own = _stat(pid)
    if own is None:
        return 0.0
    total = _cpu(own, reaped=True)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                total += _cpu(fields, reaped=True)
    return total


def python_cpu() -> float:
    """CPU seconds of this process and its finished children (a partitioned rebuild's forked workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine_busy() -> float:
    """CPU seconds every core of the machine spent on anything but idling (all processes, everyone's)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / _TICK  # user … steal (guest time is already in user)


@dataclass(frozen=True)
class ServerProcesses:
    """The embedded servers' processes (None for servers the bench did not start: it cannot see them)."""

    nats: int | None = None
    postmaster: int | None = None

    def cpu(self) -> dict[str, float | None]:
        """Cumulative CPU seconds so far: this Python process (and its reaped children), nats-server,
        PostgreSQL (postmaster and backends), and the whole machine."""
        return {
            "python": python_cpu(),
            "nats": process_tree_cpu(self.nats) if self.nats else None,
            "postgres": process_tree_cpu(self.postmaster) if self.postmaster else None,
            "machine": machine_busy(),
        }


def cpu_spent(before: dict[str, float | None], after: dict[str, float | None], wall_s: float) -> dict[str, float]:
    """Where the cores went between two `ServerProcesses.cpu()` readings: seconds per part, `other` (the rest of
    the machine: other users, the kernel's own threads) and the wall time; unknown parts are left out."""
    out = {k: round(after[k] - before[k], 2) for k in ("python", "nats", "postgres") if before[k] is not None}
    busy = after["machine"] - before["machine"]  # type: ignore[operator]
    out["other"] = round(max(busy - sum(out.values()), 0.0), 2)
    out["busy"] = round(busy, 2)
    out["wall"] = round(wall_s, 2)
    return out


@contextlib.contextmanager
def servers() -> Iterator[Settings]:
    with servers_and_processes() as (settings, _):
        yield settings


@contextlib.contextmanager
def servers_and_processes() -> Iterator[tuple[Settings, ServerProcesses]]:
    settings = Settings.from_env(os.environ, log_format="json", log_level="warning")
    if settings.nats_url and settings.database_url:
        yield settings, ServerProcesses()
        return
    with tempfile.TemporaryDirectory(prefix="vsmesh-bench-") as tmp:
        root = Path(tmp)
        nats = start_nats(root)
        try:
            url = start_postgres(root / "postgres")
            try:
                processes = ServerProcesses(nats.pid, postmaster_pid((root / "postgres").resolve()))
                yield (
                    settings.model_copy(
                        update={
                            "nats_url": nats.url,
                            "nats_user": nats.user,
                            "nats_password": nats.password,
                            "database_url": url,
                            "data_dir": root,
                        }
                    ),
                    processes,
                )
            finally:
                stop_postgres(root / "postgres")
        finally:
            stop_pid(nats.pid)
