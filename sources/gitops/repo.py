"""Reading one commit of the organisation's repository with dulwich (pure Python: no `git` binary).

A repository is a local path (a work tree's `.git`, or a bare one), a URL the Git protocol reaches (fetched into a
bare cache under the data dir), or a plain folder, which is committed into such a cache first so the same rules
apply: every file has a blob id, every state a commit id.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsmesh.errors import ConfigError, NotFound

if TYPE_CHECKING:
    from dulwich.repo import Repo

# The folders a repository's commit is read for (the documented layout); anything else is not the mesh's.
GOVERNED = ("canon/", "fin/", "catalog/")
SNAPSHOT_AUTHOR = b"vsmesh <vsmesh@localhost>"


@dataclass(frozen=True)
class RepoFile:
    path: str
    blob: str  # the blob's object id: what an event derived from this file is named after
    content: Callable[[], bytes] = field(repr=False, compare=False)  # read when first needed

    @property
    def text(self) -> str:
        return self.content().decode("utf-8", "replace")


@dataclass(frozen=True)
class Commit:
    """The governed files of one commit, and who made it."""

    id: str
    author: str
    message: str
    time: int  # unix seconds
    files: Mapping[str, RepoFile]


def open_repo(location: str, cache: Path) -> Repo:
    """The repository at `location`: a path, a URL (fetched into `cache`), or a plain folder (committed there)."""
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo

    path = Path(location).expanduser()
    if "://" not in location and not location.startswith("git@"):
        if not path.exists():
            raise NotFound(f"no repository at {location}: give a Git repository's path or URL")
        try:
            return Repo(str(path))
        except NotGitRepository:
            return snapshot_folder(path, _cache_repo(cache, str(path.resolve())))
    return _fetch(location, _cache_repo(cache, location))


def _cache_repo(cache: Path, location: str) -> Repo:
    from dulwich.repo import Repo

    where = cache / (hashlib.sha256(location.encode()).hexdigest()[:16] + ".git")
    if where.exists():
        return Repo(str(where))
    where.mkdir(parents=True)
    return Repo.init_bare(str(where))


def _fetch(url: str, into: Repo) -> Repo:
    """Fetch every branch of `url` into the cache; its refs become the cache's own."""
    from dulwich.client import get_transport_and_path

    try:
        client, remote_path = get_transport_and_path(url)
        result = client.fetch(remote_path, into)
    except Exception as e:  # noqa: BLE001 - dulwich raises many kinds; the user needs the URL and the cause
        raise ConfigError(f"cannot fetch {url}: {e}; check the URL and that the Git protocol reaches it") from e
    for ref, sha in result.refs.items():
        if ref.startswith((b"refs/heads/", b"refs/tags/")) and sha is not None:
            into.refs[ref] = sha
    if result.symrefs.get(b"HEAD"):
        into.refs.set_symbolic_ref(b"HEAD", result.symrefs[b"HEAD"])
    return into


def resolve(repo: Repo, ref: str) -> bytes:
    """The commit id a ref (branch, tag, HEAD or a commit id) names."""
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        try:
            sha = repo.refs[name.encode()]
        except KeyError:
            continue
        return _peeled(repo, sha)
    if len(ref) == 40:
        try:
            return _peeled(repo, ref.encode())
        except KeyError:
            pass
    branches = sorted(r.decode().removeprefix("refs/heads/") for r in repo.refs.keys() if r.startswith(b"refs/heads/"))
    raise NotFound(f"the repository has no ref {ref!r}; its branches: {', '.join(branches) or 'none'} (use --ref)")


def _peeled(repo: Repo, sha: bytes) -> bytes:
    from dulwich.objects import Commit as GitCommit
    from dulwich.objects import Tag

    found = repo[sha]
    while isinstance(found, Tag):
        found = repo[found.object[1]]
    if not isinstance(found, GitCommit):
        raise NotFound(f"{sha.decode()} is no commit")
    return found.id


def read_commit(repo: Repo, commit_id: bytes) -> Commit:
    """The governed files of a commit (YAML under canon/, fin/ and catalog/), each with its blob id; a file's
    content is read only when asked for (a file already derived is known by its blob id)."""
    from dulwich.object_store import iter_tree_contents

    commit = repo[commit_id]
    files: dict[str, RepoFile] = {}
    store = repo.object_store
    for entry in iter_tree_contents(store, commit.tree):
        path = entry.path.decode("utf-8", "replace")
        if not path.startswith(GOVERNED) or not path.endswith((".yaml", ".yml")):
            continue
        files[path] = RepoFile(path, entry.sha.decode(), functools.partial(_blob_data, store, entry.sha))
    return Commit(
        id=commit.id.decode(),
        author=commit.author.decode("utf-8", "replace"),
        message=commit.message.decode("utf-8", "replace").strip(),
        time=commit.commit_time,
        files=files,
    )


def _blob_data(store: Any, sha: bytes) -> bytes:
    return store[sha].data


def commit_files(
    repo: Repo,
    files: Mapping[str, bytes],
    *,
    message: str,
    author: bytes = SNAPSHOT_AUTHOR,
    ref: bytes = b"refs/heads/main",
    when: int | None = None,
) -> bytes:
    """Commit exactly `files` (path → content) on `ref`, after its current commit; the new commit's id.

    The tree is written straight into the object store (no index, no work tree): what tests, the benchmark and
    a folder's snapshot need."""
    from dulwich.index import commit_tree
    from dulwich.objects import Blob
    from dulwich.objects import Commit as GitCommit

    store = repo.object_store
    entries = []
    for path, content in sorted(files.items()):
        blob = Blob.from_string(content)
        store.add_object(blob)
        entries.append((path.encode(), blob.id, 0o100644))
    commit = GitCommit()
    commit.tree = commit_tree(store, entries)
    commit.parents = [repo.refs[ref]] if ref in repo.refs else []
    commit.author = commit.committer = author
    commit.author_time = commit.commit_time = int(time.time()) if when is None else when
    commit.author_timezone = commit.commit_timezone = 0
    commit.encoding = b"UTF-8"
    commit.message = message.encode() + b"\n"
    store.add_object(commit)
    repo.refs[ref] = commit.id
    if b"HEAD" not in repo.refs:
        repo.refs.set_symbolic_ref(b"HEAD", ref)
    return commit.id


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every governed file under a plain folder, by its path relative to it."""
    found: dict[str, bytes] = {}
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder).as_posix()
        if file.is_file() and relative.startswith(GOVERNED):
            found[relative] = file.read_bytes()
    return found


def snapshot_folder(folder: Path, into: Repo) -> Repo:
    """A plain folder as a commit on the cache's main branch: a new commit only when its files changed."""
    files = folder_files(folder)
    ref = b"refs/heads/main"
    if ref in into.refs and _same_files(into, into.refs[ref], files):
        return into
    commit_files(into, files, message=f"snapshot of {folder}")
    return into


def _same_files(repo: Repo, commit_id: bytes, files: Mapping[str, bytes]) -> bool:
    from dulwich.object_store import iter_tree_contents
    from dulwich.objects import Blob

    held = {e.path.decode(): e.sha for e in iter_tree_contents(repo.object_store, repo[commit_id].tree)}
    return held == {p: Blob.from_string(c).id for p, c in files.items()}


def paths_of(files: Iterable[RepoFile], folder: str) -> list[RepoFile]:
    return [f for f in files if f.path.startswith(folder)]
