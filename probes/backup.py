"""`backup` probes: the newest file under a path, its age and size (a backup set's freshest copy)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

from vsmesh.probes.model import BackupProbe
from vsmesh.probes.observation import Observation


def _newest(root: Path, pattern: str) -> tuple[int, Path | None, float, int]:
    """(files matching, newest, its mtime, its size); a directory walk, so it runs in a thread."""
    count, newest, mtime, size = 0, None, 0.0, 0
    for path in root.glob(pattern):
        try:
            stat = path.stat()
        except OSError:
            continue  # removed while we looked (a rotation): not a backup any more
        if not path.is_file():
            continue
        count += 1
        if newest is None or stat.st_mtime > mtime:
            newest, mtime, size = path, stat.st_mtime, stat.st_size
    return count, newest, mtime, size


async def observe(probe: BackupProbe) -> Observation:
    if not probe.path.is_dir():
        return Observation({"BACKUP_COUNT": 0}, error=f"backup path {probe.path} is no directory here")
    count, newest, mtime, size = await asyncio.to_thread(_newest, probe.path, probe.pattern)
    if newest is None:
        return Observation({"BACKUP_COUNT": 0}, error=f"no file matches {probe.pattern} under {probe.path}")
    age = max(0.0, time.time() - mtime)
    taken_at = dt.datetime.fromtimestamp(mtime, dt.UTC)
    return Observation(
        {"BACKUP_AGE": round(age, 1), "BACKUP_SIZE": size, "BACKUP_COUNT": count},
        detail={"taken_at": taken_at, "size_bytes": size, "location": str(newest)},
    )
