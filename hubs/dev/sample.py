"""dev-hub's demo picture: the state-hub becoming dev-hub (its repos, a deployment that went through and one that
failed), the blocker that holds the move up and a decision taken on the way."""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent, demo_id

HUB = "dev-hub"


def _repo(name: str, domain: str) -> DemoEvent:
    data = {"name": name, "domain": domain, "default_branch": "main", "url": f"https://gitea.coulomb.social/{name}"}
    return DemoEvent(f"dev/repo/{name}", "dev-repo-registered", HUB, f"repo/{name}", data)


def events() -> list[DemoEvent]:
    """dev-hub's demo events, in publishing order."""
    deploy = {"service": "dev-hub", "version": "0.9.0", "environment": "coulombcore", "repo": "the-custodian"}
    return [
        _repo("the-custodian", "custodian"),
        _repo("hub-core", "custodian"),
        _repo("ops-hub", "custodian"),
        DemoEvent("dev/deploy/dev-hub/0.9.0/started", "dev-deployment-started", HUB, "service/dev-hub", deploy),
        DemoEvent("dev/deploy/dev-hub/0.9.0/completed", "dev-deployment-completed", HUB, "service/dev-hub",
                  {**deploy, "deployment_id": demo_id("dev/deploy/dev-hub/0.9.0/started")}),
        DemoEvent("dev/deploy/ops-hub/0.1.0/failed", "dev-deployment-failed", HUB, "service/ops-hub",
                  {"service": "ops-hub", "version": "0.1.0", "environment": "coulombcore",
                   "error": "no OIDC client for ops-hub yet"}),
        DemoEvent("dev/blocker/sso", "dev-blocker-raised", HUB, "workstream/CUST-WP-0025",
                  {"title": "NetKingdom SSO (NK-WP-0001) not finished", "severity": "high",
                   "blocking": ["CUST-WP-0025-T03", "CUST-WP-0025-T13"]}),
        DemoEvent("dev/decision/hub-core-packaging", "dev-decision-recorded", HUB, "workplan/CUST-WP-0025",
                  {"title": "Hub-core packaging", "decision": "a separate pip-installable package",
                   "rationale": "clean separation, versioned independently, each hub depends via uv",
                   "alternatives": ["a folder inside state-hub"]}),
    ]  # fmt: skip
