"""The Kubernetes puller: kr8s reads a real local HTTP server answering recorded API list responses (a kubeconfig
pointing at http://127.0.0.1:PORT with a token; the Deployments in two pages), into the session's running mesh:
what the inventory does not hold is discovered once, everything seen gets its `last_seen`, a re-pull stores
nothing, an API error stores nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from tests.sources.pullers.conftest import Answer, Recorded
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import SourceUnavailable
from vsmesh.sources.pullers.jobs import pull
from vsmesh.sources.pullers.model import parse_puller_file

TOKEN = "k3s-reader-token"  # the kubeconfig's user token; the server answers 401 without it


def serve_cluster(recorded: Recorded) -> None:
    ns = f"apps-{recorded.u}"
    deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
    recorded.token = TOKEN
    recorded.routes.update({
        "/version": Answer("k8s-version.json"),
        deployments: Answer("k8s-deployments-page1.json"),
        # kr8s asks for the next page with the continue token the first page gave
        f"{deployments}?continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODg0MzAxLCJzdGFydCI6ImdpdGVhLUB1QFx1MDAwMCJ9":
            Answer("k8s-deployments-page2.json"),
        f"/apis/apps/v1/namespaces/{ns}/statefulsets": Answer("k8s-statefulsets.json"),
        f"/api/v1/namespaces/{ns}/services": Answer("k8s-services.json"),
        f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses": Answer("k8s-ingresses.json"),
    })  # fmt: skip


def kubeconfig(recorded: Recorded, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": recorded.url}}],
        "users": [{"name": "reader", "user": {"token": TOKEN}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "reader"}}],
    }))  # fmt: skip
    return path


def puller(recorded: Recorded, config: Path, name: str):
    text = f"""
pullers:
  - name: {name}
    kind: kubernetes
    every: 5m
    kubeconfig: {config}
    namespaces: [apps-{recorded.u}]
    environment: lab
    cluster: lab-{recorded.u}
"""
    return parse_puller_file(text).pullers[0]


async def test_undeclared_services_are_discovered_once_and_all_are_seen(settings, running_mesh, recorded, tmp_path):
    serve_cluster(recorded)
    u = recorded.u
    p = puller(recorded, kubeconfig(recorded, tmp_path), f"k8s-{u}")
    nc = await connect(settings)
    try:
        # The inventory declares postgres; gitea and grafana run undeclared.
        ops = Publisher(nc.jetstream(), settings)
        postgres = {"kind": "service", "name": f"postgres-{u}", "environment": "lab"}
        event = ops.build("ops-inventory-registered", hub="ops-hub", subject=f"service/postgres-{u}", data=postgres)
        declared = await ops.publish(event)
        wait = {declared.stream: declared.sequence}
        await ask(nc, "ops-hub", "get_sightings", {"entities": [], "wait_for_seq": wait})
        now = dt.datetime.now(dt.UTC)
        plan, stored = await pull(p, nc, settings, {}, now=now)
        discovered = {e.subject: e.data for e in plan.events if e.event_type == "ops-service-discovered"}
        # grafana is only on the Deployments' second page: the pages were followed.
        assert sorted(discovered) == [f"service/gitea-{u}", f"service/grafana-{u}"]
        gitea = discovered[f"service/gitea-{u}"]
        assert gitea["namespace"] == f"apps-{u}" and gitea["environment"] == "lab" and gitea["host"] == f"lab-{u}"
        assert gitea["endpoints"] == [f"gitea-{u}-http.apps-{u}.svc:3000", f"https://git-{u}.example.org/"]
        objects = [f"Deployment/gitea-{u}", f"Service/gitea-{u}-http", f"Ingress/gitea-{u}"]
        assert gitea["attributes"]["objects"] == objects
        assert gitea["attributes"]["images"] == ["gitea/gitea:1.22.6-rootless"]
        # One sighting names all three, the declared one too.
        [seen] = [e for e in plan.events if e.event_type == "ops-inventory-seen"]
        assert seen.data["entities"] == [f"service/gitea-{u}", f"service/grafana-{u}", f"service/postgres-{u}"]
        assert len(stored) == 3 and not any(s.duplicate for s in stored)

        # ops-hub: the discovered services with their namespace, and every one's last_seen.
        wait = {stored[-1].stream: stored[-1].sequence}
        held = await ask(nc, "ops-hub", "get_sightings", {"entities": seen.data["entities"], "wait_for_seq": wait})
        held = held["entities"]
        assert held[f"service/gitea-{u}"]["discovered_via"] == "k8s-api" and not held[f"service/gitea-{u}"]["declared"]
        assert held[f"service/postgres-{u}"]["declared"] and held[f"service/postgres-{u}"]["discovered_via"] is None
        assert all(h["last_seen"] for h in held.values())
        shown = (await ask(nc, "ops-hub", "get_services", {"name": f"grafana-{u}"}))["services"][0]
        assert shown["namespace"] == f"apps-{u}" and shown["discovered_via"] == "k8s-api" and shown["last_seen"]

        # A re-pull within `seen_every`: nothing new to say, nothing stored.
        again, stored_again = await pull(p, nc, settings, {}, now=now + dt.timedelta(minutes=5))
        assert again.events == [] and stored_again == []
        # An hour on, one sighting refreshes last_seen; nothing is discovered again.
        later, _ = await pull(p, nc, settings, {}, now=now + dt.timedelta(hours=1, minutes=1))
        assert [e.event_type for e in later.events] == ["ops-inventory-seen"]
    finally:
        await nc.close()


async def test_an_api_error_stores_nothing(settings, running_mesh, recorded, tmp_path):
    serve_cluster(recorded)
    recorded.routes[f"/api/v1/namespaces/apps-{recorded.u}/services"] = Answer("k8s-error-500.json", status=500)
    p = puller(recorded, kubeconfig(recorded, tmp_path), f"k8s-err-{recorded.u}")
    nc = await connect(settings)
    try:
        with pytest.raises(SourceUnavailable, match="^the Kubernetes API answered HTTP 500: ") as refused:
            await pull(p, nc, settings, {}, now=dt.datetime.now(dt.UTC))
        assert TOKEN not in str(refused.value)
    finally:
        await nc.close()


async def test_a_wrong_token_is_refused(settings, running_mesh, recorded, tmp_path):
    serve_cluster(recorded)
    recorded.token = "another-token"
    p = puller(recorded, kubeconfig(recorded, tmp_path), f"k8s-401-{recorded.u}")
    nc = await connect(settings)
    try:
        with pytest.raises(SourceUnavailable, match="HTTP 401"):
            await pull(p, nc, settings, {}, now=dt.datetime.now(dt.UTC))
    finally:
        await nc.close()


async def test_an_api_server_with_a_token_from_the_environment(settings, running_mesh, recorded):
    serve_cluster(recorded)
    text = f"""
pullers:
  - name: k8s-api-{recorded.u}
    kind: kubernetes
    api: {recorded.url}
    token: {{env: K8S_TOKEN}}
    namespaces: [apps-{recorded.u}]
"""
    p = parse_puller_file(text).pullers[0]
    nc = await connect(settings)
    try:
        # The same cluster read with the token the environment holds (kr8s is given it in memory, no file).
        plan, _ = await pull(p, nc, settings, {"K8S_TOKEN": TOKEN}, dry_run=True, now=dt.datetime.now(dt.UTC))
        assert plan.read == 6 and plan.skipped == []  # every object of both pages of the four kinds
    finally:
        await nc.close()


async def test_an_object_without_a_name_is_skipped_and_said_so(settings, running_mesh, recorded, tmp_path):
    serve_cluster(recorded)
    ns = f"apps-{recorded.u}"
    recorded.routes[f"/apis/apps/v1/namespaces/{ns}/statefulsets"] = Answer("k8s-statefulsets-malformed.json")
    p = puller(recorded, kubeconfig(recorded, tmp_path), f"k8s-bad-{recorded.u}")
    nc = await connect(settings)
    try:
        plan, _ = await pull(p, nc, settings, {}, dry_run=True, now=dt.datetime.now(dt.UTC))
        assert plan.skipped == [f"StatefulSet in {ns}: no 'metadata' where the API names one"]
        assert plan.read == 7  # the rest was read as before
    finally:
        await nc.close()
