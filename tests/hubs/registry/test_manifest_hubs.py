"""Hubs from manifests, end to end on a running mesh: the CLI and the contracts only — no code, no database."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.errors import ConfigError, ContractError
from vsmesh.hubs.registry.manifest_model import parse_manifest, shipped

SYN = str(shipped("syn-hub"))


def call(settings, hub: str, operation: str, request: dict | None = None):
    async def go():
        nc = await connect(settings)
        try:
            return await ask(nc, hub, operation, request)
        finally:
            await nc.close()

    return asyncio.run(go())


def answering(settings, hub: str, operation: str, request: dict | None = None):
    """The hub's answer once it answers (a freshly bootstrapped hub starts within a few seconds)."""

    def check():
        try:
            return call(settings, hub, operation, request)
        except ContractError as e:
            if e.code in ("not_running", "not_found"):
                return None
            raise

    return wait_until(check, timeout=20, what=f"{hub} to answer {operation}")


def variant(tmp_path: Path, slug: str, **changes) -> Path:
    """A copy of syn-hub's manifest under another slug, with its own (or the given) event types."""
    raw = yaml.safe_load(Path(SYN).read_text())
    raw["identity"]["slug"] = slug
    prefix = slug.split("-")[0]
    raw["vocabulary"]["event_types"] = [e.replace("syn-", f"{prefix}-") for e in raw["vocabulary"]["event_types"]]
    raw["widgets"] = [{**w, "slug": w["slug"].replace("syn-", f"{prefix}-")} for w in raw["widgets"]]
    for key, value in changes.items():
        raw["vocabulary"][key] = value
    path = tmp_path / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_manifest_errors_name_the_line():
    text = "identity:\n  slug: x-hub\n  name: X\n  vsm_function: S9\nvocabulary:\n  event_types: [x-a, x-a]\n"
    with pytest.raises(ConfigError) as e:
        parse_manifest(text, "x.yaml")
    assert "x.yaml:4: identity.vsm_function" in str(e.value)
    assert "x.yaml:6: vocabulary.event_types" in str(e.value) and "listed twice" in str(e.value)


def test_every_shipped_manifest_is_valid_and_claims_its_own_types():
    claimed: dict[str, str] = {}
    for slug in ("ops-hub", "syn-hub", "ctl-hub", "aud-hub", "int-hub", "pol-hub", "env-hub"):
        m = parse_manifest(shipped(slug).read_text(), slug)
        assert m.identity.hub_family == "vsm"
        for event_type in m.vocabulary.event_types:
            if not event_type.startswith("alert-"):
                assert claimed.setdefault(event_type, slug) == slug


def test_syn_hub_from_its_manifest_alone(cli, running_mesh, settings):
    done = cli("hub", "bootstrap", SYN)
    assert done.exit_code == 0, done.output
    shown = json.loads(cli("hub", "show", "syn-hub", "--json").stdout)
    assert (shown["vsm_function"], shown["vsm_system"]) == ("SYN", "S2")
    assert shown["active_manifest"]["status"] == "active"
    assert "syn-handoff-requested" in shown["active_manifest"]["vocabulary"]["event_types"]

    data = {"from_unit": "ops-hub", "to_unit": "dev-hub", "metadata": {"workplan": "HF-WP-0001"}}
    published = cli("publish", "syn-handoff-requested", "--hub", "syn-hub", "--subject", "syn-handoffs",
                    "--data", json.dumps(data), "--json")  # fmt: skip
    assert published.exit_code == 0, published.output
    event_id = json.loads(published.stdout)["id"]

    def seen():
        answer = answering(settings, "syn-hub", "get_timeline", {"widget": "syn-handoffs"})
        return next((e for e in answer["events"] if e["event_id"] == event_id), None)

    event = wait_until(seen, timeout=20, what="the syn event in syn-hub's timeline")
    assert event["type"] == "syn-handoff-requested"
    assert event["data"]["from_unit"] == "ops-hub"
    assert event["metadata"] == {"workplan": "HF-WP-0001"}
    widgets = call(settings, "syn-hub", "get_widgets")["widgets"]
    assert {w["slug"] for w in widgets} == {"syn-workstreams", "syn-handoffs", "syn-conflicts"}
    vocabulary = call(settings, "syn-hub", "get_vocabulary")
    assert "syn-repos" in vocabulary["policy_scopes"]
    assert call(settings, "syn-hub", "get_risks")["risks"] == []  # the generic core answers too

    # A type syn-hub does not declare: refused by `vsmesh publish` and by the contract's writes.
    refused = cli("publish", "ops-health-checked", "--hub", "syn-hub", "--data", '{"status": "green"}')
    assert refused.exit_code == 1
    assert "syn-hub does not accept 'ops-health-checked'" in refused.output
    with pytest.raises(ContractError) as e:
        call(settings, "syn-hub", "record_event", {"type": "ops-health-checked", "data": {"status": "green"}})
    assert e.value.code == "undeclared_type"
    # Nor may a caller of the contract re-manifest the hub or revert its history through it.
    forged = {"type": "hub-manifest-activated", "data": {"slug": "syn-hub", "revision": 99}}
    with pytest.raises(ContractError) as e:
        call(settings, "syn-hub", "record_event", forged)
    assert e.value.code == "governance_type" and "vsmesh hub bootstrap" in str(e.value)
    repo = f"ops-hub-{uuid.uuid4().hex[:6]}"  # the mesh is shared: other tests write syn-hub conflicts too
    write = {"type": "syn-conflict-detected", "widget": "syn-conflicts", "metadata": {"repo": repo}}
    written = call(settings, "syn-hub", "record_event", write)
    timeline = call(settings, "syn-hub", "get_timeline",
                    {"widget": "syn-conflicts", "wait_for_seq": {written["stream"]: written["seq"]}})  # fmt: skip
    assert [ev["metadata"] for ev in timeline["events"] if ev["event_id"] == written["id"]] == [{"repo": repo}]


def test_bootstrap_is_idempotent_and_a_changed_file_is_a_new_version(cli, running_mesh, tmp_path):
    slug = f"idem{uuid.uuid4().hex[:6]}-hub"
    path = variant(tmp_path, slug)
    first = cli("hub", "bootstrap", str(path))
    assert first.exit_code == 0 and "revision 1 active" in first.output, first.output
    again = cli("hub", "bootstrap", str(path))
    assert again.exit_code == 0 and "nothing published" in again.output, again.output

    prefix = slug.split("-")[0]
    changed = variant(tmp_path, slug, event_types=[f"{prefix}-handoff-requested", f"{prefix}-handoff-dropped"])
    second = json.loads(cli("hub", "bootstrap", str(changed), "--json").stdout)
    assert [p["type"] for p in second["published"]] == ["hub-manifest-activated"]
    shown = json.loads(cli("hub", "show", slug, "--json").stdout)
    assert [(m["revision"], m["status"]) for m in shown["manifests"]] == [(1, "superseded"), (2, "active")]
    assert shown["active_manifest"]["vocabulary"]["event_types"] == [f"{prefix}-handoff-requested",
                                                                      f"{prefix}-handoff-dropped"]  # fmt: skip


def test_two_hubs_may_not_claim_one_event_type(cli, running_mesh, settings, tmp_path):
    owner = f"own{uuid.uuid4().hex[:6]}-hub"
    assert cli("hub", "bootstrap", str(variant(tmp_path, owner))).exit_code == 0
    owned = f"{owner.split('-')[0]}-handoff-requested"
    thief = f"thief{uuid.uuid4().hex[:6]}-hub"
    refused = cli("hub", "bootstrap", str(variant(tmp_path, thief, event_types=[owned, "thief-own-type"])))
    assert refused.exit_code == 1
    assert thief in refused.output and owner in refused.output and owned in refused.output
    assert "no hub" in json.dumps(call_or_error(settings, thief))

    # A raw (admin) client bypassing the CLI: the registry records the manifest as rejected, naming both hubs.
    from vsmesh.bus.publisher import Publisher

    async def raw():
        nc = await connect(settings)
        try:
            p = Publisher(nc.jetstream(), settings)
            data = {"slug": thief, "event_types": [owned], "revision": 1}
            manifest = p.build("hub-manifest-activated", hub="registry", subject=f"hub/{thief}", data=data)
            stored = await p.publish(manifest)
            return await ask(
                nc, "registry", "get_hub", {"hub": thief, "wait_for_seq": {stored.stream: stored.sequence}}
            )
        finally:
            await nc.close()

    shown = asyncio.run(raw())
    assert shown["active_manifest"] is None
    (rejected,) = shown["manifests"]
    assert rejected["status"] == "rejected"
    assert owner in rejected["reason"] and thief in rejected["reason"] and owned in rejected["reason"]


def call_or_error(settings, slug: str):
    try:
        return call(settings, "registry", "get_hub", {"hub": slug})
    except ContractError as e:
        return {"error": str(e)}


def test_seed_002_ops_hub_acceptance(cli, running_mesh, settings):
    done = cli("hub", "bootstrap", "ops-hub")  # the shipped manifest, by slug
    assert done.exit_code == 0, done.output
    assert cli("hub", "bootstrap", "ops-hub").output.strip().endswith("nothing published")
    shown = json.loads(cli("hub", "show", "ops-hub", "--json").stdout)
    assert (shown["name"], shown["hub_kind"], shown["hub_family"]) == ("Ops Hub", "domain", "vsm")
    assert (shown["vsm_function"], shown["vsm_system"]) == ("OPS", "S1")
    assert shown["active_manifest"]["status"] == "active"
    assert len(shown["widgets"]) == 14
    assert "ops-endpoint-gitea-registry" in {w["slug"] for w in shown["widgets"]}
    assert "ops-registry" in shown["active_manifest"]["vocabulary"]["policy_scopes"]

    metadata = {
        "vsmFunction": "OPS",
        "vsmSystem": "S1",
        "endpoint": "https://gitea.coulomb.social/v2/",
        "expectedStatus": 401,
        "observedHeader": "Docker-Distribution-Api-Version: registry/2.0",
        "viewContext": "railiance-apps/workplans/RAIL-AP-WP-0001",
    }
    data = {
        "endpoint": "https://gitea.coulomb.social/v2/",
        "expected_status": 401,
        "observed_status": 401,
        "observed_headers": {"Docker-Distribution-Api-Version": "registry/2.0"},
        "metadata": metadata,
    }
    published = cli("publish", "ops-endpoint-verified", "--hub", "ops-hub", "--subject", "endpoint/gitea-registry",
                    "--data", json.dumps(data), "--json")  # fmt: skip
    assert published.exit_code == 0, published.output
    stored = json.loads(published.stdout)
    wait = {stored["stream"]: stored["seq"]}
    evidence = call(settings, "ops-hub", "get_evidence", {"entity": "endpoint/gitea-registry", "wait_for_seq": wait})
    (found,) = [e for e in evidence["evidence"] if e["event_id"] == stored["id"]]
    assert found["detail"]["metadata"] == metadata
    assert found["detail"]["expected_status"] == 401

    # A coded type of another hub (a manifest hub's type is known to this process only once it learned it).
    refused = cli("publish", "canon-policy-declared", "--hub", "ops-hub", "--data", "{}")
    assert refused.exit_code == 1 and "ops-hub does not accept" in refused.output


def test_hub_list_shows_the_seven_vsm_hubs(cli, running_mesh):
    for slug in ("ops-hub", "syn-hub", "ctl-hub", "aud-hub", "int-hub", "pol-hub", "env-hub"):
        assert cli("hub", "bootstrap", slug).exit_code == 0
    listed = json.loads(cli("hub", "list", "--json").stdout)
    by_slug = {h["slug"]: h for h in listed["hubs"]}
    vsm = ("ops-hub", "syn-hub", "ctl-hub", "aud-hub", "int-hub", "pol-hub", "env-hub")
    assert {by_slug[s]["vsm_function"] for s in vsm} == {"OPS", "SYN", "CTL", "AUD", "INT", "POL", "ENV"}
    table = cli("hub", "list").output
    assert "env-hub" in table and "S3*" in table


def test_a_manifest_hub_summarises_itself_like_any_hub(cli, running_mesh):
    assert cli("hub", "bootstrap", "syn-hub").exit_code == 0
    summary = wait_until(
        lambda: (r := cli("summary", "syn-hub", "--json")).exit_code == 0 and json.loads(r.stdout),
        timeout=15,
        what="syn-hub answering get_domain_summary",
    )
    assert {w["slug"] for w in summary["widgets"]} >= {"syn-conflicts", "syn-handoffs", "syn-workstreams"}
    assert "syn-handoff-requested" in summary["event_types"]


def test_a_raw_client_sending_an_undeclared_type_is_quarantined(cli, settings, running_mesh):
    assert cli("hub", "bootstrap", "syn-hub").exit_code == 0
    # ops-health-checked is a known type, but syn-hub's manifest does not declare it.
    event = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "raw", "type": "ops-health-checked",
        "subject": "service/undeclared", "time": "2026-11-23T10:00:00Z", "hub": "syn-hub",
        "actor": "script", "actorkind": "service", "data": {"status": "green"},
    }  # fmt: skip

    async def send() -> int:
        nc = await connect(settings)
        try:
            subject = "operational.syn-hub.ops-health-checked.service:undeclared"
            return (await nc.jetstream().publish(subject, json.dumps(event).encode())).seq
        finally:
            await nc.close()

    seq = asyncio.run(send())

    def quarantined():
        rows = json.loads(cli("quarantine", "list", "--json").stdout)
        return next((r for r in rows if r["origin"] == f"OPERATIONAL:{seq}"), None)

    found = wait_until(quarantined, timeout=15, what="the undeclared event in the quarantine")
    assert "not declared by syn-hub's active manifest" in found["reason"]
