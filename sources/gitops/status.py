"""What each repository's last sync did, kept in the KV bucket `vsmesh-gitops` for `vsmesh status` and for the
next sync (the last good commit is what drift is judged against)."""

from __future__ import annotations

import hashlib

import msgspec
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from vsmesh.bus.buckets import open_bucket

BUCKET = "vsmesh-gitops"


class SyncStatus(msgspec.Struct, kw_only=True):
    repo: str
    ref: str
    commit: str | None = None  # the last good commit: what the hubs hold
    author: str | None = None
    message: str | None = None
    synced_at: float | None = None  # unix time
    published: int = 0
    changed: dict[str, int] = {}  # action → how many, of the last sync that published anything
    drift: int = 0  # how many of those undid a change made outside the repository
    refused_commit: str | None = None  # the newest commit refused, while no later one was good
    refused_at: float | None = None
    problems: list[str] = []
    holder: str = ""  # who ran it: a person at the CLI, or the deployment holding the reconcile's lease


def status_key(repo: str) -> str:
    return "repo." + hashlib.sha256(repo.encode()).hexdigest()[:24]


async def bucket(js: JetStreamContext, *, create: bool = True, replicas: int = 1) -> KeyValue | None:
    config = KeyValueConfig(bucket=BUCKET, history=1, storage=StorageType.FILE, replicas=replicas)
    return await open_bucket(js, config, create=create)


async def load_status(js: JetStreamContext, repo: str, ref: str) -> SyncStatus:
    kv = await bucket(js, create=False)
    if kv is not None:
        try:
            entry = await kv.get(status_key(repo))
        except KeyNotFoundError:
            entry = None
        if entry is not None and entry.value:
            return msgspec.json.decode(entry.value, type=SyncStatus)
    return SyncStatus(repo=repo, ref=ref)


async def save_status(js: JetStreamContext, status: SyncStatus, *, replicas: int = 1) -> None:
    kv = await bucket(js, replicas=replicas)
    assert kv is not None
    await kv.put(status_key(status.repo), msgspec.json.encode(status))


async def every_status(js: JetStreamContext) -> list[SyncStatus]:
    """Every repository synced into this mesh, as `vsmesh status` lists them."""
    kv = await bucket(js, create=False)
    if kv is None:
        return []
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    found = []
    for key in keys:
        entry = await kv.get(key)
        if entry.value:
            found.append(msgspec.json.decode(entry.value, type=SyncStatus))
    return sorted(found, key=lambda s: s.repo)
