"""The forge's webhooks (Forgejo, Gitea, GitHub): push → `dev-repo-pushed`, a published release →
`dev-release-published`, a deployment → `dev-deployment-started`, its final status → `dev-deployment-completed` or
`dev-deployment-failed`. Every delivery is signed: HMAC-SHA256 of the body with the hook's secret, in the header
each forge names (Forgejo sends its own and Gitea's; the Forgejo hook checks its own).

The forge's delivery id (a UUID per delivery, kept when a person redelivers it) is what an event's id derives
from, so a redelivery stores nothing new; a deployment's started event derives from the deployment's own id, so
its statuses can name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from vsmesh.sources.hooks.source import (
    Headers,
    Proposed,
    Source,
    Translated,
    decode,
    hook_metadata,
    malformed,
)
from vsmesh.sources.hooks.store import Hook
from vsmesh.sources.hooks.verify import check_hmac

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
SHORT = 12
FAILED_STATES = ("failure", "error")
EVENT_TYPES = (
    "dev-repo-pushed", "dev-release-published", "dev-deployment-started", "dev-deployment-completed",
    "dev-deployment-failed",
)  # fmt: skip


@dataclass(frozen=True)
class Forge:
    """The headers one forge names its signature, event kind and delivery id by (lower-case, as received)."""

    name: str
    signature: str
    event: str
    delivery: str
    prefix: str = ""  # GitHub writes `sha256=` before the hex digest


FORGES = (
    Forge("forgejo", "x-forgejo-signature", "x-forgejo-event", "x-forgejo-delivery"),
    Forge("gitea", "x-gitea-signature", "x-gitea-event", "x-gitea-delivery"),
    Forge("github", "x-hub-signature-256", "x-github-event", "x-github-delivery", prefix="sha256="),
)


class Repository(msgspec.Struct, kw_only=True):
    full_name: NonEmpty
    name: str = ""
    html_url: str = ""


class Push(msgspec.Struct, kw_only=True):
    ref: NonEmpty
    after: NonEmpty
    repository: Repository
    before: str = ""
    commits: list[dict[str, Any]] = []
    pusher: dict[str, Any] = {}
    compare_url: str | None = None  # Forgejo and Gitea
    compare: str | None = None  # GitHub


class Release(msgspec.Struct, kw_only=True):
    tag_name: NonEmpty
    name: str | None = None
    html_url: str | None = None
    target_commitish: str | None = None
    prerelease: bool = False


class ReleaseHook(msgspec.Struct, kw_only=True):
    action: NonEmpty
    release: Release
    repository: Repository


class Deployment(msgspec.Struct, kw_only=True):
    id: int
    sha: str = ""
    ref: str = ""
    environment: str = ""


class DeploymentStatus(msgspec.Struct, kw_only=True):
    state: NonEmpty
    environment: str = ""
    description: str | None = None
    target_url: str | None = None


class DeploymentHook(msgspec.Struct, kw_only=True):
    deployment: Deployment
    repository: Repository


class DeploymentStatusHook(msgspec.Struct, kw_only=True):
    deployment_status: DeploymentStatus
    deployment: Deployment
    repository: Repository


def _source(forge: Forge) -> Source:
    def verify(hook: Hook, headers: Headers, body: bytes) -> None:
        check_hmac(body, hook.secret, forge.signature, headers.get(forge.signature), prefix=forge.prefix)

    def translate(hook: Hook, headers: Headers, body: bytes) -> Translated:
        kind, delivery = headers.get(forge.event), headers.get(forge.delivery)
        if not kind or not delivery:
            raise malformed(f"a {forge.name} webhook carries {forge.event} and {forge.delivery} headers")
        translator = TRANSLATORS.get(kind)
        if translator is None:
            return Translated([], delivery, ignored=f"{kind} events (vsmesh records push, release, deployment)")
        what = f"{forge.name} {kind} webhook"
        events = translator(hook, forge, delivery, body, what)
        ignored = None if events else f"this {kind} event (a draft or edited release, a deployment still running)"
        return Translated(events, delivery, ignored=ignored)

    return Source(forge.name, "dev-hub", verify, translate, title=f"{forge.name} webhooks", event_types=EVENT_TYPES)


def _push(hook: Hook, forge: Forge, delivery: str, body: bytes, what: str) -> list[Proposed]:
    push = decode(body, Push, what)
    pusher = push.pusher.get("login") or push.pusher.get("username") or push.pusher.get("name")
    data = {
        "repo": push.repository.full_name,
        "ref": push.ref,
        "after": push.after,
        "before": push.before or None,
        "commits": len(push.commits),
        "pusher": pusher,
        "compare_url": push.compare_url or push.compare,
        "metadata": hook_metadata(hook, delivery, forge=forge.name),
    }
    return [_proposed("dev-repo-pushed", hook, push.repository, data, f"{forge.name}:{delivery}")]


def _release(hook: Hook, forge: Forge, delivery: str, body: bytes, what: str) -> list[Proposed]:
    event = decode(body, ReleaseHook, what)
    if event.action != "published":
        return []  # drafts, edits and deletions change no release that was published
    r = event.release
    data = {
        "repo": event.repository.full_name,
        "tag": r.tag_name,
        "name": r.name or None,
        "url": r.html_url,
        "commit": r.target_commitish,
        "prerelease": r.prerelease,
        "metadata": hook_metadata(hook, delivery, forge=forge.name),
    }
    return [_proposed("dev-release-published", hook, event.repository, data, f"{forge.name}:{delivery}")]


def _deployment(hook: Hook, forge: Forge, delivery: str, body: bytes, what: str) -> list[Proposed]:
    event = decode(body, DeploymentHook, what)
    return [_started(hook, forge, event.deployment, event.repository, delivery)]


def _started(hook: Hook, forge: Forge, deployment: Deployment, repo: Repository, delivery: str) -> Proposed:
    data = {
        "service": repo.name or repo.full_name,
        "version": deployment.ref or deployment.sha[:SHORT] or str(deployment.id),
        "environment": deployment.environment or None,
        "repo": repo.full_name,
        "commit": deployment.sha or None,
        "metadata": hook_metadata(hook, delivery, forge=forge.name, deployment=deployment.id),
    }
    key = f"{forge.name}:{repo.full_name}:deployment:{deployment.id}"
    return _proposed("dev-deployment-started", hook, repo, data, key, entity=f"service/{data['service']}")


def _deployment_status(hook: Hook, forge: Forge, delivery: str, body: bytes, what: str) -> list[Proposed]:
    event = decode(body, DeploymentStatusHook, what)
    status, deployment, repo = event.deployment_status, event.deployment, event.repository
    if status.state != "success" and status.state not in FAILED_STATES:
        return []  # queued, pending, in_progress: the deployment event said it began
    started = _started(hook, forge, deployment, repo, delivery)
    common = {
        k: started.data[k] for k in ("service", "version", "environment") if started.data.get(k) is not None
    } | {"deployment_id": started.event_id, "metadata": hook_metadata(
        hook, delivery, forge=forge.name, deployment=deployment.id, target_url=status.target_url
    )}  # fmt: skip
    if status.state == "success":
        data = common | {"repo": repo.full_name, "commit": deployment.sha or None}
        event_type = "dev-deployment-completed"
    else:
        data = common | {"error": status.description or f"deployment {status.state}"}
        event_type = "dev-deployment-failed"
    return [_proposed(event_type, hook, repo, data, f"{forge.name}:{delivery}", entity=started.subject)]


def _proposed(
    event_type: str, hook: Hook, repo: Repository, data: dict[str, Any], key: str, *, entity: str | None = None
) -> Proposed:
    present = {k: v for k, v in data.items() if v is not None}
    return Proposed(event_type, hook.hub, entity or f"repo/{repo.full_name}", present, key)


TRANSLATORS = {
    "push": _push,
    "release": _release,
    "deployment": _deployment,
    "deployment_status": _deployment_status,
}
SOURCES = tuple(_source(forge) for forge in FORGES)
