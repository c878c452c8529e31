"""`vsmesh sync REPO`: canon, budgets and the catalog reconciled from commits of a real Git repository (dulwich)
against the session's `vsmesh up`. Every name carries the repository's own tag: the session's hubs are shared."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.sources.gitops.orgrepo import OrgRepo
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.runtime.mesh_state import load_state
from vsmesh.sources.gitops.example import example_repo

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
    assert (
        sorted(c["action"] for c in done["changes"])
        == ["allocate"] * 2 + ["declare"] + ["grant"] * 2 + ["register"] * 2
    )
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
    event = last_event(
        settings, "CONSTITUTIONAL", f"constitutional.canon-hub.canon-policy-declared.policy:spending-{t}"
    )
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


def alerts_on_canon(settings) -> list[dict]:
    return ask_now(settings, "canon-hub", "get_alerts", {})["alerts"]


def test_a_bad_commit_is_refused_whole_and_a_fixing_commit_applies(cli, settings, tmp_path):
    repo = org(tmp_path)
    t = repo.tag
    good = repo.commit("good")
    assert cli("sync", str(repo.path)).exit_code == 0
    # One commit changes a budget (valid), gives a mandate a scope naming no hub, and holds a secret.
    repo.write(f"fin/budgets/rail-{t}.yaml", {"domain": f"rail-{t}", "currency": "XGT",
                                               "periods": {"2026-11": "999.00", "2026-12": "150.00"}})  # fmt: skip
    repo.write(f"canon/mandates/ops-{t}.yaml", "role: Operator\nholder: ops-bot\n\n\n\n\nscope: ops\n")
    repo.write(f"canon/policies/keys-{t}.yaml", {"title": "Keys", "values": {"api_token": "ghp_" + "a" * 36}})
    repo.write(f"canon/mandates/held-{t}.yaml", {"role": "R", "holder": f"h-{t}", "scope": "ops-hub",
                                                  "approve": ["ops-hub:open_incident severity =="]})  # fmt: skip
    bad = repo.commit("a bad commit", author="Mallory <m@example.org>")
    refused = cli("sync", str(repo.path))
    # Refused in one line per problem, naming file, line and field, never the secret itself.
    assert refused.exit_code == 1
    assert f"canon/mandates/ops-{t}.yaml:7: scope: 'ops' is not a hub or glob" in refused.stderr
    assert f"canon/policies/keys-{t}.yaml:3: api_token: looks like a GitHub token" in refused.stderr
    assert f"canon/mandates/held-{t}.yaml:5: approve: " in refused.stderr, refused.stderr
    assert "aaaaaaaa" not in refused.output
    assert f"error: commit {bad[:12]}" in refused.stderr and f"{good[:12]} stays in force" in refused.stderr
    # Nothing of that commit reached a hub: the budget is as the good commit left it.
    [nov] = ask_now(settings, "fin-hub", "get_budgets", {"domain": f"rail-{t}", "period": "2026-11"})["budgets"]
    assert float(nov["allocated"]) == 200.0
    # canon-hub alerts naming the refused commit and why; the status keeps the last good commit.
    [alert] = [a for a in alerts_on_canon(settings) if bad[:12] in a["title"]]
    assert "scope: 'ops' is not a hub or glob" in alert["description"] and alert["severity"] == "high"
    [synced] = [s for s in json.loads(cli("status", "--json").stdout)["gitops"] if s["repo"] == str(repo.path)]
    assert synced["commit"] == good and synced["refused_commit"] == bad and len(synced["problems"]) == 3
    # A commit that reverts the bad files (keeping the budget change) syncs, and only that change is published.
    repo.remove(f"canon/mandates/ops-{t}.yaml")
    repo.remove(f"canon/policies/keys-{t}.yaml")
    repo.remove(f"canon/mandates/held-{t}.yaml")
    fixed = repo.commit("revert the bad mandate and the key")
    done = json.loads(cli("sync", str(repo.path), "--json").stdout)
    assert done["commit"] == fixed and [c["action"] for c in done["changes"]] == ["allocate"]
    [nov] = ask_now(settings, "fin-hub", "get_budgets", {"domain": f"rail-{t}", "period": "2026-11"})["budgets"]
    assert float(nov["allocated"]) == 999.0


def test_a_removed_file_revokes_or_retires_what_it_declared(cli, settings, tmp_path):
    repo = org(tmp_path)
    t = repo.tag
    repo.commit("all")
    assert cli("sync", str(repo.path)).exit_code == 0
    # A change canon's rows do not show (an approval condition) still grants the mandate anew, the old one revoked.
    bot = f"canon/mandates/bot-{t}.yaml"
    repo.write(bot, repo.files[bot].decode() + "approve: ['ops-hub:open_incident severity == critical']\n")
    repo.commit("hold critical incidents for a person")
    reworded = json.loads(cli("sync", str(repo.path), "--json").stdout)
    assert sorted((c["action"], c["path"]) for c in reworded["changes"]) == [("grant", bot), ("revoke", bot)]
    for path in (f"canon/mandates/bot-{t}.yaml", f"canon/policies/spending-{t}.yaml", f"fin/budgets/rail-{t}.yaml",
                 f"catalog/gitea-{t}/catalog-info.yaml"):  # fmt: skip
        repo.remove(path)
    repo.commit("remove them")
    done = json.loads(cli("sync", str(repo.path), "--json").stdout)
    assert sorted(c["action"] for c in done["changes"]) == ["allocate"] * 2 + ["retire"] * 3 + ["revoke"]
    holders = {m["holder"] for m in ask_now(settings, "canon-hub", "get_mandates")["mandates"]}
    assert f"deploy-bot-{t}" not in holders and f"founder-{t}" in holders
    [policy] = ask_now(settings, "canon-hub", "get_policies", {"policy": f"spending-{t}"})["policies"]
    assert policy["version"] == "retired" and not policy["values"]
    budgets = ask_now(settings, "fin-hub", "get_budgets", {"domain": f"rail-{t}"})["budgets"]
    assert {float(b["allocated"]) for b in budgets} == {0.0}
    gitea = ask_now(settings, "ops-hub", "get_inventory", {"entity": f"service/gitea-{t}"})["item"]
    assert gitea["retired_at"] is not None


def test_a_hand_made_change_is_drift_and_the_next_sync_restores_the_repo(cli, settings, tmp_path, session_dir):
    repo = org(tmp_path)
    t = repo.tag
    repo.commit("all")
    assert cli("sync", str(repo.path)).exit_code == 0
    # By hand: a second mandate for the repo's deploy bot, and a budget raised.
    grant = {"role": "Deploy agent", "holder": f"deploy-bot-{t}", "scope": "*"}
    assert cli("publish", "canon-mandate-granted", "--hub", "canon-hub", "--subject", f"mandate/deploy-bot-{t}",
               "--data", json.dumps(grant)).exit_code == 0  # fmt: skip
    money = {"domain": f"rail-{t}", "period": "2026-12", "amount": {"amount": "50.00", "currency": "XGT"}}
    assert cli("publish", "fin-budget-allocated", "--hub", "fin-hub", "--subject", f"domain/rail-{t}",
               "--data", json.dumps(money)).exit_code == 0  # fmt: skip
    # The next sync of the same commit names both files as drift and restores what they declare.
    done = json.loads(cli("sync", str(repo.path), "--json").stdout)
    assert {(c["action"], c["path"], c["drift"]) for c in done["changes"]} == {
        ("revoke", f"canon/mandates/bot-{t}.yaml", True), ("allocate", f"fin/budgets/rail-{t}.yaml", True)}  # fmt: skip
    bot = [m for m in ask_now(settings, "canon-hub", "get_mandates")["mandates"] if m["holder"] == f"deploy-bot-{t}"]
    assert [m["scope"] for m in bot] == ["ops-hub:read, ops-hub:open_incident"]
    [dec] = ask_now(settings, "fin-hub", "get_budgets", {"domain": f"rail-{t}", "period": "2026-12"})["budgets"]
    assert float(dec["allocated"]) == 150.0
    # Alerts on canon-hub name each file that disagreed; the constitutional page shows them.
    drift = {a["title"] for a in alerts_on_canon(settings) if a["title"].startswith("drift: ")}
    assert any(f"canon/mandates/bot-{t}.yaml" in title for title in drift)
    assert any(f"fin/budgets/rail-{t}.yaml" in title for title in drift)
    page = httpx.get(f"{load_state(session_dir / 'up').gateway_url}/constitutional").text
    assert f"drift: canon/mandates/bot-{t}.yaml disagrees with canon-hub" in page
    # Restored: a further sync finds nothing to do.
    assert json.loads(cli("sync", str(repo.path), "--json").stdout)["changes"] == []


def test_the_demo_takes_canon_budgets_and_the_inventory_from_the_example_repository(cli, settings):
    demo = cli("demo")
    assert demo.exit_code == 0, demo.output
    example = str(example_repo())
    # The demo's spending policy is the example repository's file, named in its event.
    event = last_event(settings, "CONSTITUTIONAL", "constitutional.canon-hub.canon-policy-declared.policy:spending")
    assert event["data"]["metadata"]["gitops"]["path"] == "canon/policies/spending.yaml"
    assert event["data"]["metadata"]["values"]["budget_alert_pct"] == 90
    # The custodian agent's mandate is delegated from the founder's, as its file says.
    mandates = ask_now(settings, "canon-hub", "get_mandates", {"holder": "custodian-agent"})["mandates"]
    steward = ask_now(settings, "canon-hub", "get_mandates", {"holder": "founder"})["mandates"]
    assert [m["delegated_from"] for m in mandates] == [m["mandate_id"] for m in steward if m["scope"] == "*"]
    # The services and the migration's gates are its Backstage catalog; synced again, nothing is missing.
    gate = ask_now(settings, "ops-hub", "get_inventory", {"entity": "readiness-gate/rollback-path"})["item"]
    assert gate["attributes"]["wave"] == "coulombcore-to-threephoenix"
    again = json.loads(cli("sync", example, "--dry-run", "--json").stdout)
    assert again["changes"] == [] and again["dry_run"] is True


def test_a_url_is_fetched_and_bad_locations_are_one_line(cli, settings, tmp_path):
    repo = org(tmp_path)
    t = repo.tag
    commit = repo.commit("over the Git protocol")
    # A URL is fetched (dulwich's client) into the data dir's cache, then synced like a path.
    done = cli("sync", f"file://{repo.path}", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["commit"] == commit
    assert ask_now(settings, "canon-hub", "get_policies", {"policy": f"spending-{t}"})["policies"]
    # A ref the repository lacks, a path with no repository, a URL nothing answers: one line each, naming the fix.
    ref = cli("sync", str(repo.path), "--ref", "nope")
    assert ref.exit_code == 1 and "the repository has no ref 'nope'; its branches: main (use --ref)" in ref.stderr
    missing = cli("sync", str(tmp_path / "none"))
    assert missing.exit_code == 1 and f"error: no repository at {tmp_path / 'none'}" in missing.stderr
    unreachable = cli("sync", "git://127.0.0.1:1/org.git")
    assert unreachable.exit_code == 1 and "error: cannot fetch git://127.0.0.1:1/org.git" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
