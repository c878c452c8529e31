"""`vsmesh sync REPO`: canon, budgets and the catalog reconciled from commits of a real Git repository (dulwich)
against the session's `vsmesh up`. Every name carries the repository's own tag: the session's hubs are shared."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.sources.gitops.orgrepo import OrgRepo
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask

pytestmark = pytest.mark.usefixtures("running_mesh")


def ask_now(settings, hub: str, operation: str, request: dict | None = None):
    async def go():
        nc = await connect(settings)
        try:
            return await ask(nc, hub, operation, request or {})
        finally:
            await nc.close()

    return asyncio.run(go())


def last_event(settings, stream: str, subject: str) -> dict:
    async def go():
        nc = await connect(settings)
        try:
            msg = await nc.jetstream().get_last_msg(stream, subject)
            return json.loads(msg.data)
        finally:
            await nc.close()

    return asyncio.run(go())


def org(tmp_path: Path) -> OrgRepo:
    repo = OrgRepo(tmp_path / "org.git")
    t = repo.tag
    repo.write(f"canon/policies/spending-{t}.yaml", {
        "title": "Spending thresholds", "version": "1.0", "scope": "fin", "statement": "alert early",
        "values": {"note": f"gitops-{t}"}})  # fmt: skip
    repo.write(f"canon/mandates/steward-{t}.yaml", {
        "role": "Constitutional Steward", "holder": f"founder-{t}", "scope": "*"})  # fmt: skip
    repo.write(f"canon/mandates/bot-{t}.yaml", {
        "role": "Deploy agent", "holder": f"deploy-bot-{t}", "scope": "ops-hub:read, ops-hub:open_incident",
        "constraints": ["not ops-hub:get_evidence"], "until": "2027-01-01T00:00:00Z",
        "delegated_from": f"steward-{t}"})  # fmt: skip
    repo.write(f"fin/budgets/rail-{t}.yaml", {
        "domain": f"rail-{t}", "currency": "XGT", "category": "hosting", "periods": {"2026-11": "200.00",
                                                                                     "2026-12": "150.00"}})  # fmt: skip
    repo.write(f"catalog/gitea-{t}/catalog-info.yaml", "\n---\n".join(yaml_docs(t)))
    return repo


def yaml_docs(t: str) -> list[str]:
    return [
        f"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: gitea-{t}
  description: git hosting for every repo
  annotations:
    vsmesh.io/environment: coulombcore
  links:
    - url: https://gitea.example/
      title: web
spec:
  type: service
  lifecycle: production
  owner: group:railiance-apps
  dependsOn: [resource:gitea-db-{t}]
""",
        f"""apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: gitea-db-{t}
spec:
  type: database
  owner: railiance-cluster
""",
    ]


def test_a_commit_is_published_once_with_its_provenance(cli, settings, tmp_path):
    repo = org(tmp_path)
    t = repo.tag
    commit = repo.commit("canon, budgets and the catalog")
    # The first sync publishes what the commit declares: a policy, two mandates, two budgets, two entities.
    first = cli("sync", str(repo.path), "--json")
    assert first.exit_code == 0, first.output
    done = json.loads(first.stdout)
    assert done["commit"] == commit and done["published"] == 7
    assert sorted(c["action"] for c in done["changes"]) == ["allocate"] * 2 + ["declare"] + ["grant"] * 2 + [
        "register"
    ] * 2
    # The hubs hold it: the policy with its values, the mandates (one delegated from the other), the budgets,
    # the inventory with its relations.
    [policy] = ask_now(settings, "canon-hub", "get_policies", {"policy": f"spending-{t}"})["policies"]
    assert policy["values"] == {"note": f"gitops-{t}"}
    mandates = {m["holder"]: m for m in ask_now(settings, "canon-hub", "get_mandates")["mandates"]}
    bot, steward = mandates[f"deploy-bot-{t}"], mandates[f"founder-{t}"]
    assert bot["delegated_from"] == steward["mandate_id"] and bot["scope"] == "ops-hub:read, ops-hub:open_incident"
    budgets = ask_now(settings, "fin-hub", "get_budgets", {"domain": f"rail-{t}"})["budgets"]
    assert {(b["period"], float(b["allocated"])) for b in budgets} == {("2026-11", 200.0), ("2026-12", 150.0)}
    gitea = ask_now(settings, "ops-hub", "get_inventory", {"entity": f"service/gitea-{t}"})["item"]
    assert gitea["environment"] == "coulombcore" and gitea["owner"] == "railiance-apps"
    assert gitea["attributes"]["depends_on"] == [f"gitea-db-{t}"]
    # Each event names the commit, the file and its author.
    event = last_event(settings, "CONSTITUTIONAL", f"constitutional.canon-hub.canon-policy-declared.policy:spending-{t}")
    assert event["data"]["metadata"]["gitops"] == {
        "repo": str(repo.path), "commit": commit, "path": f"canon/policies/spending-{t}.yaml",
        "author": "Ada Lovelace <ada@example.org>"}  # fmt: skip
    # A second sync of the same commit publishes nothing.
    again = json.loads(cli("sync", str(repo.path), "--json").stdout)
    assert again["published"] == 0 and again["changes"] == []
    # `vsmesh status` names the last commit synced, when, and what it changed.
    status = json.loads(cli("status", "--json").stdout)
    [synced] = [s for s in status["gitops"] if s["repo"] == str(repo.path)]
    assert synced["commit"] == commit and synced["changed"]["register"] == 2 and synced["synced_at"]
