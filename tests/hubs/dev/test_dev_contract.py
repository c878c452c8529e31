"""dev-hub over NATS: deployments, blockers, decisions and repos in; its summary and deployments out."""

import uuid

import pytest

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher

HUB = "dev-hub"


@pytest.fixture
def publisher(nc, settings):
    return Publisher(nc.jetstream(), settings)


async def publish(publisher, event_type: str, data: dict, subject: str | None = None):
    return await publisher.publish(publisher.build(event_type, hub=HUB, subject=subject, data=data))


def waiting_for(stored) -> dict:
    return {"wait_for_seq": {stored.stream: stored.sequence}}


async def test_deployments_track_what_runs_where(nc, publisher, running_mesh):
    svc = f"svc-{uuid.uuid4().hex[:6]}"
    started = await publish(
        publisher, "dev-deployment-started", {"service": svc, "version": "1.2", "environment": "prod", "repo": "r"}
    )
    await publish(
        publisher,
        "dev-deployment-completed",
        {"service": svc, "version": "1.2", "environment": "prod", "deployment_id": started.event_id},
    )
    failed = await publish(
        publisher,
        "dev-deployment-failed",
        {"service": svc, "version": "1.3", "environment": "prod", "error": "image pull"},
    )
    # CI that only reports the end: a completed deployment with no started event, then rolled back.
    done = await publish(
        publisher, "dev-deployment-completed", {"service": svc, "version": "1.4", "environment": "prod"}
    )
    last = await publish(
        publisher,
        "dev-deployment-rolled-back",
        {
            "service": svc,
            "from_version": "1.4",
            "to_version": "1.2",
            "environment": "prod",
            "deployment_id": done.event_id,
            "reason": "5xx",
        },
    )

    answer = await ask(nc, HUB, "get_deployments", {"service": svc, **waiting_for(last)})
    by_id = {d["deployment_id"]: d for d in answer["deployments"]}
    assert len(by_id) == 3
    assert by_id[started.event_id]["status"] == "completed" and by_id[started.event_id]["started_at"]
    assert (by_id[failed.event_id]["status"], by_id[failed.event_id]["detail"]) == ("failed", "image pull")
    assert (by_id[done.event_id]["status"], by_id[done.event_id]["detail"]) == ("rolled-back", "5xx")
    assert [
        d["status"]
        for d in (await ask(nc, HUB, "get_deployments", {"service": svc, "status": "failed"}))["deployments"]
    ] == ["failed"]

    summary = await ask(nc, HUB, "get_domain_summary", {"recent": 200})
    # After the rollback prod runs 1.2 again.
    assert {"service": svc, "environment": "prod", "version": "1.2"}.items() <= next(
        r for r in summary["running"] if r["service"] == svc
    ).items()


async def test_blockers_decisions_and_repos_in_the_summary(nc, publisher, running_mesh):
    tag = uuid.uuid4().hex[:6]
    await publish(
        publisher, "dev-repo-registered", {"name": f"repo-{tag}", "url": f"https://git/{tag}", "domain": "dev"}
    )
    kept = await publish(
        publisher, "dev-blocker-raised", {"title": f"db down {tag}", "severity": "high", "blocking": ["ws-1"]}
    )
    gone = await publish(publisher, "dev-blocker-raised", {"title": f"flaky ci {tag}"})
    await publish(publisher, "dev-blocker-cleared", {"blocker_id": gone.event_id, "resolution": "retried"})
    old = await publish(publisher, "dev-decision-recorded", {"title": f"queue {tag}", "decision": "use redis"})
    last = await publish(
        publisher,
        "dev-decision-recorded",
        {"title": f"queue {tag}", "decision": "use NATS", "supersedes": old.event_id},
    )

    summary = await ask(nc, HUB, "get_domain_summary", {"recent": 200, **waiting_for(last)})
    assert f"repo-{tag}" in [r["name"] for r in summary["repos"]]
    open_ids = [b["blocker_id"] for b in summary["open_blockers"]]
    assert kept.event_id in open_ids and gone.event_id not in open_ids
    decisions = {d["decision"]: d["status"] for d in summary["recent_decisions"] if d["title"] == f"queue {tag}"}
    assert decisions == {"use redis": "superseded", "use NATS": "accepted"}
