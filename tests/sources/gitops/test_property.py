"""Syncing commit A then commit B leaves the hubs holding what syncing B alone does.

A fresh mesh per example would cost a `vsmesh up` each; instead each example's two runs use names of their own
(a tag per run), which no other run or test shares: the hubs hold nothing of them before, as on a fresh mesh. What
is compared is what is in force (policies not retired with their values, mandates not revoked, budgets, entities
not retired with their attributes), tags taken out. Retired and revoked rows stay in the hubs' history by design.
"""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.sources.gitops.orgrepo import OrgRepo
from tests.sources.gitops.test_sync import ask_now

SLUGS, HOLDERS, NAMES = ("alpha", "beta", "gamma"), ("bot", "person"), ("web", "db", "queue")
SCOPES = ("ops-hub", "ops-hub:read", "fin-hub:read, dev-hub", "*")

states = st.fixed_dictionaries(
    {
        "policies": st.dictionaries(st.sampled_from(SLUGS), st.sampled_from(("1.0", "1.1", "2.0")), max_size=3),
        "mandates": st.dictionaries(st.sampled_from(HOLDERS), st.sampled_from(SCOPES), max_size=2),
        "budgets": st.dictionaries(st.sampled_from(("2026-11", "2026-12")), st.integers(0, 500), max_size=2),
        "entities": st.dictionaries(st.sampled_from(NAMES), st.sampled_from(("prod", "staging")), max_size=3),
    }
)


def write(repo: OrgRepo, tag: str, state: dict) -> None:
    repo.files.clear()
    for slug, version in state["policies"].items():
        repo.write(f"canon/policies/{slug}-{tag}.yaml", {"title": slug, "version": version, "values": {"v": version}})
    for holder, scope in state["mandates"].items():
        repo.write(f"canon/mandates/{holder}-{tag}.yaml", {"role": "R", "holder": f"{holder}-{tag}", "scope": scope})
    if state["budgets"]:
        periods = {p: f"{a}.00" for p, a in state["budgets"].items()}
        repo.write(f"fin/budgets/d-{tag}.yaml", {"domain": f"d-{tag}", "currency": "XPT", "periods": periods})
    for name, env in state["entities"].items():
        doc = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
               "metadata": {"name": f"{name}-{tag}", "annotations": {"vsmesh.io/environment": env}},
               "spec": {"type": "service", "owner": "team"}}  # fmt: skip
        repo.write(f"catalog/{name}-{tag}/catalog-info.yaml", doc)


def in_force(settings_, tag: str) -> dict:
    """What the hubs hold of one run's names, the tag taken out."""
    policies = ask_now(settings_, "canon-hub", "get_policies")["policies"]
    mandates = ask_now(settings_, "canon-hub", "get_mandates")["mandates"]
    budgets = ask_now(settings_, "fin-hub", "get_budgets", {"domain": f"d-{tag}"})["budgets"]
    entities = ask_now(settings_, "ops-hub", "list_inventory", {"kinds": ["service"]})["inventory"]
    cut = f"-{tag}"
    return {
        "policies": sorted((p["policy"].removesuffix(cut), p["version"], json.dumps(p["values"]))
                           for p in policies if p["policy"].endswith(cut) and p["version"] != "retired"),
        "mandates": sorted((m["holder"].removesuffix(cut), m["scope"]) for m in mandates if m["holder"].endswith(cut)),
        "budgets": sorted((b["period"], float(b["allocated"])) for b in budgets if float(b["allocated"])),
        "entities": sorted((e["name"].removesuffix(cut), e["environment"], json.dumps(e["attributes"]))
                           for e in entities if e["name"].endswith(cut) and not e["retired_at"]),
    }  # fmt: skip


FULL = {
    "policies": {"alpha": "1.0", "beta": "1.0"},
    "mandates": {"bot": "ops-hub", "person": "*"},
    "budgets": {"2026-11": 100, "2026-12": 50},
    "entities": {"web": "prod", "db": "prod"},
}
# Everything changed or removed at once: the example every run tries first, beside the random ones.
SOME = {
    "policies": {"alpha": "2.0"},
    "mandates": {"bot": "ops-hub:read"},
    "budgets": {"2026-11": 300},
    "entities": {"web": "staging", "queue": "prod"},
}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=states, b=states)
@example(a=FULL, b=SOME)
def test_syncing_a_then_b_holds_what_syncing_b_alone_holds(cli, running_mesh, settings, tmp_path, a, b):
    both, alone = uuid.uuid4().hex[:6], uuid.uuid4().hex[:6]
    first = OrgRepo(tmp_path / f"{both}.git")
    write(first, both, a)
    first.commit("A")
    assert cli("sync", str(first.path)).exit_code == 0
    write(first, both, b)
    first.commit("B")
    assert cli("sync", str(first.path)).exit_code == 0
    fresh = OrgRepo(tmp_path / f"{alone}.git")
    write(fresh, alone, b)
    fresh.commit("B")
    assert cli("sync", str(fresh.path)).exit_code == 0
    assert in_force(settings, both) == in_force(settings, alone)
