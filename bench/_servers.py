"""Real servers for a benchmark run: the env's (VSMESH_NATS_URL…) or embedded ones in a temp dir."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vsmesh.runtime.nats_server import start_nats, stop_pid
from vsmesh.runtime.postgres_server import start_postgres, stop_postgres
from vsmesh.settings import Settings


@contextlib.contextmanager
def servers() -> Iterator[Settings]:
    settings = Settings.from_env(os.environ, log_format="json", log_level="warning")
    if settings.nats_url and settings.database_url:
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="vsmesh-bench-") as tmp:
        root = Path(tmp)
        nats = start_nats(root)
        try:
            url = start_postgres(root / "postgres")
            try:
                yield settings.model_copy(
                    update={
                        "nats_url": nats.url,
                        "nats_user": nats.user,
                        "nats_password": nats.password,
                        "database_url": url,
                        "data_dir": root,
                    }
                )
            finally:
                stop_postgres(root / "postgres")
        finally:
            stop_pid(nats.pid)
