"""Webhook requests as each tool sends them: its payload format and its exact headers, signed with the hook's secret.

Shared by the hook tests and `bench/hooks.py`, so both send what Alertmanager, the forges and Argo CD send.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

ALERTMANAGER_HEADERS = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.27.0"}


def alertmanager_body(alerts: list[dict[str, Any]], status: str | None = None) -> bytes:
    """A version-4 payload, as Alertmanager's webhook notifier marshals it."""
    status = status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    common = alerts[0]["labels"] if len(alerts) == 1 else {"alertname": alerts[0]["labels"]["alertname"]}
    return json.dumps({
        "receiver": "vsmesh",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"" + alerts[0]["labels"]["alertname"] + "\"}",
        "truncatedAlerts": 0,
    }).encode()  # fmt: skip


def alert(service: str, *, status: str = "firing", starts_at: str = "2026-12-07T10:00:00.123456789Z",
          severity: str = "critical", name: str = "ServiceDown") -> dict[str, Any]:  # fmt: skip
    labels = {"alertname": name, "service": service, "severity": severity, "instance": f"{service}:443"}
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{service} is down", "description": f"{service} answers no probe for 5m"},
        "startsAt": starts_at,
        "endsAt": "2026-12-07T10:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=probe_success+%3D%3D+0",
        "fingerprint": fingerprint,
    }


def bearer(secret: str) -> dict[str, str]:
    """Alertmanager's `http_config.authorization` (type Bearer), or Argo CD's `Authorization` header."""
    return {"Authorization": f"Bearer {secret}"}


def basic(secret: str, user: str = "alertmanager") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def forge_headers(forge: str, event: str, body: bytes, secret: str, delivery: str | None = None) -> dict[str, str]:
    """The headers Forgejo, Gitea or GitHub put on a webhook delivery (HMAC-SHA256 of the body)."""
    delivery = delivery or str(uuid.uuid4())
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if forge == "github":
        return {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/5b1e1d0",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "469845312",
            "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": f"sha256={digest}",
        }
    headers = {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-Gitea-Event-Type": event,
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": digest,
        "X-GitHub-Event": event,  # Gitea and Forgejo send GitHub's and Gogs' headers too
        "X-GitHub-Delivery": delivery,
        "X-Gogs-Event": event,
        "X-Gogs-Delivery": delivery,
        "X-Gogs-Signature": digest,
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    if forge == "forgejo":
        headers |= {"X-Forgejo-Event": event, "X-Forgejo-Event-Type": event, "X-Forgejo-Delivery": delivery,
                    "X-Forgejo-Signature": digest}  # fmt: skip
    return headers


def push_body(repo: str, after: str) -> bytes:
    return json.dumps({
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": after,
        "compare_url": f"https://code.example/{repo}/compare/000000...{after[:10]}",
        "commits": [{"id": after, "message": "fix the probe\n", "timestamp": "2026-12-07T10:00:00Z",
                     "author": {"name": "Ada", "email": "ada@example.org", "username": "ada"}}],
        "repository": {"id": 7, "name": repo.split("/")[1], "full_name": repo,
                       "html_url": f"https://code.example/{repo}"},
        "pusher": {"id": 1, "login": "ada", "username": "ada"},
        "sender": {"id": 1, "login": "ada", "username": "ada"},
    }).encode()  # fmt: skip


def release_body(repo: str, tag: str, action: str) -> bytes:
    """Gitea's `release` event (Forgejo's and GitHub's have the same fields)."""
    return json.dumps({
        "action": action,
        "release": {"id": 3, "tag_name": tag, "target_commitish": "main", "name": tag.lstrip("v"),
                    "draft": False, "prerelease": False, "html_url": f"https://code.example/{repo}/releases/tag/{tag}"},
        "repository": {"id": 7, "name": repo.split("/")[1], "full_name": repo},
        "sender": {"login": "ada"},
    }).encode()  # fmt: skip


def deployment_status_body(repo: str, deployment_id: int, state: str, sha: str) -> bytes:
    """GitHub's `deployment_status` event."""
    return json.dumps({
        "action": "created",
        "deployment_status": {"id": deployment_id * 10, "state": state, "environment": "production",
                              "description": "rolled out" if state == "success" else "image pull backoff",
                              "target_url": f"https://ci.example/{repo}/runs/{deployment_id}"},
        "deployment": {"id": deployment_id, "sha": sha, "ref": "v2.0.1", "task": "deploy",
                       "environment": "production"},
        "repository": {"id": 7, "name": repo.split("/")[1], "full_name": repo},
        "sender": {"login": "deploy-bot"},
    }).encode()  # fmt: skip


def argocd_body(application: str, revision: str, phase: str = "Succeeded",
                finished_at: str = "2026-12-07T10:05:00Z") -> bytes:  # fmt: skip
    """What the README's `template.vsmesh-sync` renders for an application."""
    return json.dumps({
        "application": application, "project": "default", "revision": revision,
        "repo": "https://code.example/coulomb/deploy.git", "namespace": "production", "phase": phase,
        "sync_status": "Synced" if phase == "Succeeded" else "OutOfSync",
        "health_status": "Healthy" if phase == "Succeeded" else "Degraded", "finished_at": finished_at,
    }).encode()  # fmt: skip


def standard_headers(secret: str, body: bytes, msg_id: str | None = None, at: float | None = None) -> dict[str, str]:
    """Headers of a delivery signed by the Standard Webhooks reference library, as a sender using it sends them."""
    from standardwebhooks.webhooks import Webhook

    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = dt.datetime.fromtimestamp(time.time() if at is None else at, dt.UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body),
    }


def event_body(event_type: str, subject: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "subject": subject, "data": data}).encode()
