"""Argo CD notifications' webhook service, with the template the README documents: a finished sync →
`dev-deployment-completed` (phase Succeeded) or `dev-deployment-failed` (Failed, Error), naming the application,
the revision, the sync and health status. The dev→ops coupling turns a completed one into an ops change record.

Argo CD signs nothing and sends no delivery id: the hook's secret comes as a header of the webhook service, and a
sync is identified by application, revision and the time its operation finished, so a notification sent twice
(a controller restart, a second trigger on the same sync) stores nothing new.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from vsmesh.sources.hooks.source import Headers, Proposed, Source, Translated, decode, hook_metadata
from vsmesh.sources.hooks.store import Hook
from vsmesh.sources.hooks.verify import check_token

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
SUCCEEDED = "Succeeded"
FAILED = ("Failed", "Error")
SHORT = 12  # a revision as a version: the short form people read (the full one stays the commit)


class Sync(msgspec.Struct, kw_only=True):
    """The body the README's `template.vsmesh-sync` renders."""

    application: NonEmpty
    revision: NonEmpty
    phase: NonEmpty
    project: str = ""
    repo: str = ""
    namespace: str = ""
    sync_status: str = ""
    health_status: str = ""
    finished_at: str = ""


def verify(hook: Hook, headers: Headers, body: bytes) -> None:
    check_token(headers, hook.secret)


def translate(hook: Hook, headers: Headers, body: bytes) -> Translated:
    sync = decode(body, Sync, "Argo CD notification (the README's vsmesh-sync template)")
    delivery = f"{sync.application}@{sync.revision}@{sync.finished_at}"
    if sync.phase != SUCCEEDED and sync.phase not in FAILED:
        return Translated([], delivery, ignored=f"sync phase {sync.phase} (only finished syncs are recorded)")
    source = {k: v for k, v in msgspec.structs.asdict(sync).items() if v}
    data: dict[str, Any] = {
        "service": sync.application,
        "version": sync.revision[:SHORT],
        "environment": sync.namespace or None,
        "metadata": hook_metadata(hook, delivery, argocd=source),
    }
    if sync.phase == SUCCEEDED:
        data |= {"repo": sync.repo or None, "commit": sync.revision}
        event_type = "dev-deployment-completed"
    else:
        data["error"] = f"sync {sync.phase}: sync status {sync.sync_status or '?'}, health {sync.health_status or '?'}"
        event_type = "dev-deployment-failed"
    data = {k: v for k, v in data.items() if v is not None}
    return Translated([Proposed(event_type, hook.hub, f"service/{sync.application}", data, delivery)], delivery)


SOURCE = Source(
    "argocd", "dev-hub", verify, translate, title="Argo CD notifications",
    event_types=("dev-deployment-completed", "dev-deployment-failed"),
)  # fmt: skip
