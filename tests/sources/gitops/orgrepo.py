"""A real Git repository in a temporary directory, written with dulwich, for the sync to read."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from dulwich.repo import Repo

from vsmesh.sources.gitops.repo import commit_files


class OrgRepo:
    """A bare repository whose `main` a test commits whole file sets to (each commit: exactly these files)."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.repo = Repo.init_bare(str(path))
        self.files: dict[str, bytes] = {}
        self.tag = uuid.uuid4().hex[:6]  # names no other test uses: the session's hubs are shared

    def write(self, path: str, document: object) -> None:
        self.files[path] = (
            document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
        ).encode()

    def remove(self, path: str) -> None:
        del self.files[path]

    def commit(self, message: str, author: str = "Ada Lovelace <ada@example.org>") -> str:
        return commit_files(self.repo, self.files, message=message, author=author.encode()).decode()
