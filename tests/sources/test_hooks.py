"""Webhooks into the session's `vsmesh up`: real HTTP requests with the headers each tool sends, against its gateway.

Each test registers hooks of its own (`vsmesh hook add`) and names its entities with a run id: the mesh is shared.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.conftest import wait_until
from tests.sources.hooks_requests import (
    ALERTMANAGER_HEADERS,
    alert,
    alertmanager_body,
    argocd_body,
    basic,
    bearer,
    deployment_status_body,
    event_body,
    forge_headers,
    push_body,
    release_body,
    standard_headers,
)
from vsmesh.bus.reader import count_pending
from vsmesh.runtime.mesh_state import load_state


@pytest.fixture
def up(running_mesh, session_dir: Path) -> Path:
    return session_dir / "up"


@pytest.fixture
def gateway(up: Path) -> str:
    url = load_state(up).gateway_url
    assert url, "vsmesh up recorded no gateway URL"
    return url


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def add_hook(cli, up: Path, gateway: str):
    def add(source: str, name: str, *args: str) -> dict:
        result = cli("hook", "add", source, name, *args, "--json", "--data-dir", str(up))
        assert result.exit_code == 0, result.output
        hook = json.loads(result.stdout)
        assert hook["url"] == f"{gateway}/hooks/{source}/{name}"
        return hook

    return add


async def stored(nc, stream: str, subject: str) -> int:
    return await count_pending(nc.jetstream(), stream, subject, 0)


async def last_event(nc, stream: str, subject: str) -> dict:
    return json.loads((await nc.jetstream().get_last_msg(stream, subject)).data)


def refusals(up: Path, hook: str) -> list[dict]:
    """The mesh's log lines refusing deliveries to `hook` (vsmesh up's JSON log, session_dir/up.log)."""
    lines = (up.parent / "up.log").read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if '"hook delivery refused"' in line]
    return [line for line in found if line.get("hook") == hook]


def refused_metric(gateway: str, source: str, reason: str) -> float:
    wanted = f'vsmesh_hook_refused_total{{reason="{reason}",source="{source}"}} '
    for line in httpx.get(f"{gateway}/metrics").text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


async def test_alertmanager_alerts_land_once_with_the_hooks_identity(add_hook, gateway, nc, run, cli):
    hook = add_hook("alertmanager", f"prod-{run}")
    a, b = alert(f"am-{run}-a"), alert(f"am-{run}-b", severity="warning")
    body = alertmanager_body([a, b])
    async with httpx.AsyncClient(timeout=30) as http:
        # Both alerts are stored, as raised events of the services their labels name, on ops-hub
        first = await http.post(hook["url"], content=body, headers=ALERTMANAGER_HEADERS | bearer(hook["secret"]))
        assert first.status_code == 200, first.text
        assert first.json()["stored"] == 2
        # Alertmanager's repeat (here with basic auth, the other way its http_config authenticates) stores nothing
        again = await http.post(hook["url"], content=body, headers=ALERTMANAGER_HEADERS | basic(hook["secret"]))
        assert again.json()["stored"] == 0 and again.json()["duplicates"] == 2
        assert again.json()["events"] == first.json()["events"]
        assert again.json()["seq"] == first.json()["seq"]  # where they are stored, to wait for a hub to apply
        # …and so does one after the stream's two-minute duplicate window: the ledger of stored ids says so
        seen = await nc.jetstream().key_value("vsmesh-hooks-seen")
        assert all([await seen.get(event_id) for event_id in first.json()["events"]])
        subject_a = f"operational.ops-hub.alert-raised.service:am-{run}-a"
        assert await stored(nc, "OPERATIONAL", subject_a) == 1
        event = await last_event(nc, "OPERATIONAL", subject_a)
        assert (event["actor"], event["actorkind"]) == (f"hook-alertmanager-prod-{run}", "service")
        assert event["data"]["severity"] == "critical" and event["data"]["title"] == f"am-{run}-a is down"
        assert event["data"]["metadata"]["hook"]["delivery"] == f"{a['fingerprint']}@{a['startsAt']}"

        # The alert is open in ops-hub; its resolution (stored once too) closes it
        def open_titles() -> set[str]:
            answer = cli("alerts", "ops-hub", "--status", "raised", "--json")
            return {a["title"] for a in json.loads(answer.stdout)} if answer.exit_code == 0 else set()

        # (the CLI runs its own event loop: in a thread, beside this test's)
        opened = lambda: f"am-{run}-a is down" in open_titles()  # noqa: E731
        await asyncio.to_thread(wait_until, opened, timeout=30, what="the alert open in ops-hub")
        resolved = alertmanager_body([alert(f"am-{run}-a", status="resolved")])
        for _ in range(2):
            answer = await http.post(
                hook["url"], content=resolved, headers=ALERTMANAGER_HEADERS | bearer(hook["secret"])
            )
            assert answer.status_code == 200, answer.text
        assert await stored(nc, "OPERATIONAL", f"operational.ops-hub.alert-resolved.service:am-{run}-a") == 1
        closed = lambda: f"am-{run}-a is down" not in open_titles()  # noqa: E731
        await asyncio.to_thread(wait_until, closed, timeout=30, what="the alert resolved")


def refused_request(case: str, secret: str, run: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery that must be refused, as the tool (or an attacker) would send it."""
    body = alertmanager_body([alert(f"refused-{run}")])
    if case == "no credentials":
        return body, ALERTMANAGER_HEADERS
    if case == "wrong secret":
        return body, ALERTMANAGER_HEADERS | bearer("not-" + secret)
    if case == "malformed payload":  # a field of the wrong type, with the right credentials
        return body.replace(b'"version": "4"', b'"version": 4'), ALERTMANAGER_HEADERS | bearer(secret)
    if case == "oversized alert":  # an annotation that makes the event larger than VSMESH_MAX_EVENT_BYTES
        huge = alert(f"refused-{run}")
        huge["annotations"]["description"] = "x" * (1 << 20)
        return alertmanager_body([huge]), ALERTMANAGER_HEADERS | bearer(secret)
    if case == "bad signature":
        body = push_body(f"coulomb/refused-{run}", "a" * 40)
        return body, forge_headers("github", "push", body, "another secret")
    body = event_body("ops-health-checked", f"service/refused-{run}", {"status": "green"})
    if case == "replayed delivery":  # signed correctly, ten minutes ago
        return body, standard_headers(secret, body, at=time.time() - 600)
    body = event_body("canon-mandate-granted", f"service/refused-{run}", {"agent": "x", "scopes": ["*"]})
    return body, standard_headers(secret, body)  # a governance event, correctly signed


# case: (source, HTTP status, reason on /metrics and in the log line)
REFUSALS = {
    "no credentials": ("alertmanager", 401, "unauthorized"),
    "wrong secret": ("alertmanager", 401, "unauthorized"),
    "malformed payload": ("alertmanager", 400, "malformed"),
    "oversized alert": ("alertmanager", 400, "malformed"),
    "bad signature": ("github", 401, "unauthorized"),
    "replayed delivery": ("webhook", 401, "replayed"),
    "governance event": ("webhook", 403, "governance"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_a_refused_delivery_stores_nothing_and_says_why_once(case, add_hook, gateway, nc, run, up):
    source, status, reason = REFUSALS[case]
    name = f"refused-{run}"
    hook = add_hook(source, name)
    before = refused_metric(gateway, source, reason)
    body, headers = refused_request(case, hook["secret"], run)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(hook["url"], content=body, headers=headers)

    # The caller learns why, with the fix; nothing of the delivery was stored
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert hook["secret"] not in error
    if case == "malformed payload":
        assert "$.version" in error
    for stream in ("OPERATIONAL", "TACTICAL", "CONSTITUTIONAL"):
        for entity in (f"service:refused-{run}", f"repo:coulomb:refused-{run}"):
            assert await stored(nc, stream, f"{stream.lower()}.*.*.{entity}") == 0
    # One log line says so (without the secret), and /metrics counts it
    lines = wait_until(lambda: refusals(up, name), timeout=10, what="the refusal's log line")
    assert len(lines) == 1 and hook["secret"] not in json.dumps(lines)
    assert lines[0]["reason"] == reason
    assert refused_metric(gateway, source, reason) == before + 1


async def test_a_standard_webhooks_sender_publishes_its_events_once(add_hook, nc, run):
    hook = add_hook("webhook", f"ci-{run}", "--hub", "ops-hub")
    assert hook["secret"].startswith("whsec_")
    body = event_body("ops-health-checked", f"service/ci-{run}", {"status": "amber", "metadata": {"job": 7}})
    headers = standard_headers(hook["secret"], body)
    async with httpx.AsyncClient(timeout=30) as http:
        # The sender's retry re-signs the same message id a moment later: one event
        first = await http.post(hook["url"], content=body, headers=headers)
        retry = await http.post(
            hook["url"], content=body, headers=standard_headers(hook["secret"], body, headers["webhook-id"])
        )
        # A type its hub does not declare is refused, naming the hub's types
        other = event_body("dev-repo-pushed", f"service/ci-{run}", {"repo": "a/b", "ref": "main", "after": "c"})
        undeclared = await http.post(hook["url"], content=other, headers=standard_headers(hook["secret"], other))
    assert (first.json()["stored"], retry.json()["duplicates"]) == (1, 1)
    assert undeclared.status_code == 400 and "ops-hub does not accept 'dev-repo-pushed'" in undeclared.json()["error"]
    event = await last_event(nc, "OPERATIONAL", f"operational.ops-hub.ops-health-checked.service:ci-{run}")
    assert event["data"]["metadata"] == {"job": 7, "hook": {"source": "webhook", "name": f"ci-{run}",
                                                            "delivery": headers["webhook-id"]}}  # fmt: skip
    assert event["actorkind"] == "service" and event["actor"] == f"hook-webhook-ci-{run}"


async def test_forge_pushes_and_deployments_land_once_per_delivery(add_hook, nc, run, cli):
    repo = f"coulomb/svc-{run}"
    async with httpx.AsyncClient(timeout=30) as http:
        for forge in ("forgejo", "gitea", "github"):
            hook = add_hook(forge, f"code-{run}")
            body = push_body(repo, f"{forge[:2]}{run}".ljust(40, "0"))
            headers = forge_headers(forge, "push", body, hook["secret"])
            # A delivery and its redelivery (the same delivery id) are one event
            for _ in range(2):
                answer = await http.post(hook["url"], content=body, headers=headers)
                assert answer.status_code == 200, answer.text
            # A kind vsmesh does not record is accepted and ignored (the forge's test delivery: ping)
            ping = await http.post(
                hook["url"], content=b"{}", headers=forge_headers(forge, "ping", b"{}", hook["secret"])
            )
            assert ping.status_code == 202
        subject = f"tactical.dev-hub.dev-repo-pushed.repo:coulomb:svc-{run}"
        assert await stored(nc, "TACTICAL", subject) == 3
        pushed = await last_event(nc, "TACTICAL", subject)
        assert pushed["data"]["pusher"] == "ada" and pushed["data"]["commits"] == 1
        assert pushed["actor"] == f"hook-github-code-{run}"

        # A published release is recorded; an edit of it is not a new release
        gitea = add_hook("gitea", f"releases-{run}")
        for action in ("published", "updated"):
            body = release_body(repo, "v2.0.1", action)
            answer = await http.post(
                gitea["url"], content=body, headers=forge_headers("gitea", "release", body, gitea["secret"])
            )
            assert answer.status_code in (200, 202), answer.text
        released = f"tactical.dev-hub.dev-release-published.repo:coulomb:svc-{run}"
        assert await stored(nc, "TACTICAL", released) == 1
        assert (await last_event(nc, "TACTICAL", released))["data"]["tag"] == "v2.0.1"

        # dev-hub's summary shows the repository's latest push and release
        def activity() -> dict | None:
            answer = cli("summary", "dev-hub", "--json")
            found = [a for a in json.loads(answer.stdout).get("repo_activity", []) if a["repo"] == repo]
            return found[0] if found and found[0]["release"] else None

        latest = await asyncio.to_thread(wait_until, activity, timeout=30, what="the repo's activity in dev-hub")
        assert latest["release"] == "v2.0.1" and latest["pusher"] == "ada"

        # GitHub's deployment statuses: success completes the deployment, failure fails it
        hook = add_hook("github", f"deploy-{run}")
        for number, state in ((1, "success"), (2, "failure")):
            body = deployment_status_body(repo, number, state, "c" * 40)
            answer = await http.post(
                hook["url"], content=body, headers=forge_headers("github", "deployment_status", body, hook["secret"])
            )
            assert answer.status_code == 200, answer.text
        done = await last_event(nc, "TACTICAL", f"tactical.dev-hub.dev-deployment-completed.service:svc-{run}")
        failed = await last_event(nc, "TACTICAL", f"tactical.dev-hub.dev-deployment-failed.service:svc-{run}")
        assert done["data"]["version"] == "v2.0.1" and done["data"]["commit"] == "c" * 40
        assert failed["data"]["error"] == "image pull backoff"


async def test_an_argo_cd_sync_becomes_an_ops_change_record(add_hook, nc, run, cli):
    hook = add_hook("argocd", f"prod-{run}")
    app = f"shop-{run}"
    async with httpx.AsyncClient(timeout=30) as http:
        answers = [
            await http.post(hook["url"], content=argocd_body(app, "d" * 40),
                            headers={"Content-Type": "application/json"} | bearer(hook["secret"]))
            for _ in range(2)
        ]  # fmt: skip
        running = await http.post(hook["url"], content=argocd_body(app, "e" * 40, phase="Running"),
                                  headers=bearer(hook["secret"]))  # fmt: skip
    assert [a.json()["stored"] for a in answers] == [1, 0]
    assert running.status_code == 202  # a sync still running records nothing
    event_id = answers[0].json()["events"][0]
    deployed = await last_event(nc, "TACTICAL", f"tactical.dev-hub.dev-deployment-completed.service:{app}")
    assert deployed["id"] == event_id and deployed["data"]["version"] == "d" * 12

    # The dev→ops coupling turns it into an ops change record, which `vsmesh trace` shows in its chain
    def traced() -> str:
        answer = cli("trace", event_id)
        return answer.stdout if answer.exit_code == 0 and "ops-change-recorded" in answer.stdout else ""

    tree = await asyncio.to_thread(wait_until, traced, timeout=60, what="the ops change record in the trace")
    assert "dev-deployment-completed" in tree and f"service/{app}" in tree


def test_hooks_are_listed_without_secrets_and_removed(add_hook, cli, up, gateway, run):
    hook = add_hook("alertmanager", f"gone-{run}")
    assert stat.S_IMODE(os.stat(up / "hooks" / "hooks.json").st_mode) == 0o600
    listed = cli("hook", "list", "--json", "--data-dir", str(up))
    assert any(h["name"] == f"gone-{run}" for h in msgspec.json.decode(listed.stdout))
    assert hook["secret"] not in listed.stdout + cli("hook", "list", "--data-dir", str(up)).stdout
    # A second hook of the same name is refused; an unknown source names the known ones
    taken = cli("hook", "add", "alertmanager", f"gone-{run}", "--data-dir", str(up))
    assert taken.exit_code == 1 and "exists" in taken.stderr
    unknown = cli("hook", "add", "nagios", "x", "--data-dir", str(up))
    assert unknown.exit_code == 1 and "alertmanager, forgejo, gitea, github, argocd" in unknown.stderr
    # A hub that does not declare what the source publishes is refused at once, not at the first delivery
    wrong = cli("hook", "add", "github", f"wrong-{run}", "--hub", "ops-hub", "--data-dir", str(up))
    assert wrong.exit_code == 1 and "ops-hub does not accept dev-repo-pushed" in wrong.stderr

    removed = cli("hook", "remove", "alertmanager", f"gone-{run}", "--data-dir", str(up))
    assert removed.exit_code == 0, removed.output
    body = alertmanager_body([alert(f"gone-{run}")])
    answer = httpx.post(hook["url"], content=body, headers=ALERTMANAGER_HEADERS | bearer(hook["secret"]))
    assert answer.status_code == 404 and "vsmesh hook add alertmanager" in answer.json()["error"]


async def test_the_seen_ledger_outlives_the_process_that_stored(nc, streams, run):
    """A gateway restarted (or another one) knows what an earlier process stored: the ledger is in NATS."""
    from vsmesh.sources.hooks.seen import Seen

    stored = {f"{run}-{i}": f"OPERATIONAL:{100 + i}" for i in range(3)}
    await Seen(nc).record(stored)
    fresh = Seen(nc)  # nothing in its memory
    assert await fresh.which([*stored, f"{run}-new"]) == stored
