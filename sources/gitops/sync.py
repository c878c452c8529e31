"""Reconcile the hubs with one commit of a repository: read it, derive what it declares, ask the hubs what they
hold, publish only the difference — or refuse the whole commit.

A commit whose files do not validate (or that holds a secret) publishes nothing of itself: the last good commit
stays in force, the problems are one line each, and an alert on canon-hub names the refused commit. Every event
carries `metadata.gitops` (repository, commit, path, author), so the log leads from a policy to the commit that
made it. Drift (a hub changed outside the repository) raises an alert on canon-hub naming the
file, and the same sync restores the repository's truth.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Published, Publisher
from vsmesh.errors import CommitRefused, ContractError, InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.settings import Settings
from vsmesh.sources.gitops.derive import Derived, derive
from vsmesh.sources.gitops.held import ASK_TIMEOUT_S, held
from vsmesh.sources.gitops.plan import Change, gitops_id, plan
from vsmesh.sources.gitops.repo import Commit, open_repo, read_commit, resolve
from vsmesh.sources.gitops.status import SyncStatus, load_status, save_status

log = structlog.get_logger(__name__)

ALERT_HUB = "canon-hub"
SOURCE = "vsmesh/gitops"
APPLY_TIMEOUT_S = 60.0  # a first sync of thousands of entities, on a loaded machine


@dataclass
class SyncResult:
    repo: str
    ref: str
    commit: str
    author: str
    changes: list[Change] = field(default_factory=list)
    published: int = 0
    dry_run: bool = False
    alerts: int = 0  # drift alerts raised
    declared: int = 0  # what the commit declares: policies, mandates, budget periods, catalog entities

    @property
    def drift(self) -> int:
        return sum(c.drift for c in self.changes)


@dataclass(frozen=True)
class Read:
    commit: Commit
    derived: Derived
    last: Derived | None


def cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "gitops"


def read(settings: Settings, repo: str, ref: str, last_commit: str | None) -> Read:
    """The commit `ref` names and what it declares, with what the last good commit declared (blocking: dulwich)."""
    opened = open_repo(repo, cache_dir(settings))
    commit = read_commit(opened, resolve(opened, ref))
    derived = derive(commit)
    if last_commit == commit.id:
        return Read(commit, derived, derived)
    if last_commit and last_commit.encode() in opened.object_store:
        return Read(commit, derived, derive(read_commit(opened, last_commit.encode())))
    return Read(commit, derived, None)


async def sync(
    nc: Client,
    settings: Settings,
    repo: str,
    ref: str = "main",
    *,
    dry_run: bool = False,
    replicas: int = 1,
    holder: str | None = None,
) -> SyncResult:
    """Make the hubs hold what `ref` of `repo` declares; raises CommitRefused (after alerting) for a bad commit."""
    js = nc.jetstream()
    status = await load_status(js, repo, ref)
    status.holder = holder or settings.actor  # who ran it: the deployment holding the job's lease, or a person
    got = await asyncio.to_thread(read, settings, repo, ref, status.commit)
    commit = got.commit
    publisher = Publisher(js, settings, source=SOURCE)
    problems = list(got.derived.problems)
    changes: list[Change] = []
    events: list[Event] = []
    if not problems:
        kinds = {d.kind for d in got.derived.declared} | ({d.kind for d in got.last.declared} if got.last else set())
        changes = plan(got.derived, got.last, await held(nc, kinds))
        events, problems = _build(publisher, commit, repo, changes)
    if problems:
        if not dry_run:
            await _refuse(nc, publisher, status, commit, repo, problems, replicas)
        raise CommitRefused(
            f"commit {commit.id[:12]} of {repo} refused: {len(problems)} problem(s); nothing of it was published"
            + (f"; {status.commit[:12]} stays in force" if status.commit else ""),
            commit.id,
            problems,
        )
    result = SyncResult(repo, ref, commit.id, commit.author, changes, dry_run=dry_run)
    result.declared = len(got.derived.declared)
    if dry_run:
        return result
    alerts = [_drift_alert(publisher, commit, repo, c) for c in changes if c.drift]
    published = await publisher.publish_many([*events, *alerts]) if events or alerts else []
    result.published = sum(not p.duplicate for p in published)
    result.alerts = len(alerts)
    await _applied(nc, [*events, *alerts], published)
    await _record(js, status, result, commit, replicas)
    log.info("gitops sync", repo=repo, commit=commit.id, published=result.published, drift=result.drift)
    return result


async def _applied(nc: Client, events: list[Event], published: list[Published]) -> None:
    """Wait until every hub it published to has applied it: when `vsmesh sync` returns, the hubs answer with it."""
    wait: dict[str, dict[str, int]] = {}
    for event, stored in zip(events, published, strict=True):
        at = wait.setdefault(event.hub, {})
        at[stored.stream] = max(at.get(stored.stream, 0), stored.sequence)
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    for hub, streams in sorted(wait.items()):
        while True:
            try:
                await ask(nc, hub, "list_capabilities", {"wait_for_seq": streams}, timeout=ASK_TIMEOUT_S)
                break
            except ContractError as e:
                if e.code != "not_yet_applied" or time.monotonic() > deadline:
                    raise


def _build(publisher: Publisher, commit: Commit, repo: str, changes: list[Change]) -> tuple[list[Event], list[str]]:
    """Every event of the sync, validated before any is sent; a problem refuses the commit like a bad file."""
    events, problems = [], []
    for c in changes:
        meta = {**c.data.get("metadata", {}), "gitops": _provenance(commit, repo, c.path)}
        try:
            data = {**c.data, "metadata": meta}
            events.append(
                publisher.build(c.type, hub=c.declared.hub, subject=c.subject, data=data, event_id=c.event_id)
            )
        except InvalidEvent as e:
            problems.append(f"{c.path}:{c.declared.line}: {e}")
    return events, problems


def _provenance(commit: Commit, repo: str, path: str) -> dict[str, str]:
    return {"repo": repo, "commit": commit.id, "path": path, "author": commit.author}


def _drift_alert(publisher: Publisher, commit: Commit, repo: str, change: Change) -> Event:
    """An alert on canon-hub naming the file a hub disagreed with; once per file and disagreement."""
    data = {
        "title": f"drift: {change.path} disagrees with {change.declared.hub}; restored from {commit.id[:12]}",
        "severity": "medium",
        "description": f"{change.why}. What the repository governs changes only through the repository.",
        "metadata": {
            "gitops": {**_provenance(commit, repo, change.path), "drift": True, "restored_by": change.event_id}
        },
    }
    event_id = gitops_id("drift", change.event_id)
    return publisher.build("alert-raised", hub=ALERT_HUB, subject=f"file/{change.path}", data=data, event_id=event_id)


async def _refuse(
    nc: Client,
    publisher: Publisher,
    status: SyncStatus,
    commit: Commit,
    repo: str,
    problems: list[str],
    replicas: int,
) -> None:
    """An alert on canon-hub naming the refused commit and why (once per commit), and the status saying so."""
    shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
    data = {
        "title": f"commit {commit.id[:12]} of {Path(repo).name or repo} refused: {len(problems)} problem(s)",
        "severity": "high",
        "description": "\n".join(shown),
        "metadata": {"gitops": {**_provenance(commit, repo, ""), "refused": True, "in_force": status.commit}},
    }
    alert = publisher.build("alert-raised", hub=ALERT_HUB, subject=f"commit/{commit.id[:12]}", data=data,
                            event_id=gitops_id("refused", repo, commit.id))  # fmt: skip
    await _applied(nc, [alert], [await publisher.publish(alert)])  # canon-hub shows it when the command returns
    status.refused_commit, status.refused_at, status.problems = commit.id, time.time(), problems
    await save_status(nc.jetstream(), status, replicas=replicas)
    log.warning("gitops commit refused", repo=repo, commit=commit.id, problems=len(problems))


async def _record(js: JetStreamContext, status: SyncStatus, result: SyncResult, commit: Commit, replicas: int) -> None:
    status.ref, status.commit, status.author, status.message = result.ref, commit.id, commit.author, commit.message
    status.synced_at = time.time()
    if result.published:  # a no-change sync keeps what the last sync that changed something did
        status.published, status.drift = result.published, result.drift
        status.changed = dict(Counter(c.action for c in result.changes))
    status.refused_commit, status.refused_at, status.problems = None, None, []
    await save_status(js, status, replicas=replicas)
