"""The Kubernetes API (kr8s) → ops-hub's inventory: what runs in the configured namespaces.

Deployments, StatefulSets, Services and Ingresses are grouped into services by the `name_label` label
(`app.kubernetes.io/name`), else by their own name. A service the inventory does not hold — neither declared nor
discovered before — is published as `ops-service-discovered` (id from the puller and the service, so it is
discovered once); every service seen sets its `last_seen` by one `ops-inventory-seen` per run, naming only those
last seen longer than `seen_every` ago, so a pull every few minutes adds one sighting an hour, not one per pull.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.errors import SourceUnavailable
from vsmesh.sources.pullers.model import KubernetesPuller
from vsmesh.sources.pullers.plan import Plan, Planned, event_id

OPS = "ops-hub"
METHOD = "k8s-api"
KINDS = ("Deployment", "StatefulSet", "Service", "Ingress")


@dataclass
class Seen:
    """One service as the cluster shows it: its objects, where it is reached, what it runs."""

    name: str
    namespace: str
    objects: list[str] = field(default_factory=list)  # Kind/name
    endpoints: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


async def read_cluster(puller: KubernetesPuller, environ: Mapping[str, str]) -> tuple[dict[str, Seen], int, list[str]]:
    """(services by entity, objects read, objects skipped with why) from the API server, page by page."""
    import httpx
    from kr8s import ServerError
    from kr8s.asyncio.objects import Deployment, Ingress, Service, StatefulSet

    kinds = (Deployment, StatefulSet, Service, Ingress)
    found: dict[str, Seen] = {}
    read, skipped = 0, []
    try:
        api = await _api(puller, environ)
        api.timeout = puller.timeout
        for namespace in puller.namespaces:
            for kind in kinds:
                async for obj in api.get(kind, namespace=namespace, raw=True):
                    read += 1
                    try:
                        _add(found, kind.kind, obj, namespace, puller.name_label)
                    except (KeyError, TypeError, AttributeError) as e:
                        skipped.append(f"{kind.kind} in {namespace}: no {e} where the API names one")
    except ServerError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise SourceUnavailable(f"the Kubernetes API answered HTTP {status}: {_short(str(e))}") from None
    except (httpx.HTTPError, OSError, ValueError, KeyError) as e:  # KeyError: kr8s reading a body it did not expect
        what = f"{type(e).__name__} {_short(str(e))}"
        raise SourceUnavailable(f"the Kubernetes API did not answer usably: {what}") from None
    return found, read, skipped


async def _api(puller: KubernetesPuller, environ: Mapping[str, str]):
    import kr8s.asyncio

    if puller.kubeconfig is not None:
        return await kr8s.asyncio.api(kubeconfig=str(puller.kubeconfig), context=puller.context)
    # An API server and a token: a kubeconfig of one context, in memory (the token never touches a file).
    user = {"token": puller.token.reveal(environ)} if puller.token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": puller.name, "cluster": {"server": puller.api}}],
        "users": [{"name": puller.name, "user": user}],
        "contexts": [{"name": puller.name, "context": {"cluster": puller.name, "user": puller.name}}],
        "current-context": puller.name,
    }
    return await kr8s.asyncio.api(kubeconfig=config)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text[:160] + "…" if len(text) > 160 else text


def _add(found: dict[str, Seen], kind: str, obj: dict[str, Any], namespace: str, name_label: str) -> None:
    meta = obj["metadata"]
    name = (meta.get("labels") or {}).get(name_label) or meta["name"]
    seen = found.setdefault(f"service/{name}", Seen(name, namespace))
    seen.objects.append(f"{kind}/{meta['name']}")
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet"):
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        seen.images += [c["image"] for c in containers if c.get("image")]
    elif kind == "Service":
        seen.endpoints += [f"{meta['name']}.{namespace}.svc:{p['port']}" for p in spec.get("ports") or []]
    elif kind == "Ingress":
        secure = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
        for rule in spec.get("rules") or []:
            host = rule.get("host")
            if host:
                paths = [p.get("path") or "/" for p in (rule.get("http") or {}).get("paths") or []] or ["/"]
                seen.endpoints += [f"{'https' if host in secure else 'http'}://{host}{path}" for path in paths]


async def plan_kubernetes(puller: KubernetesPuller, nc: Client, environ: Mapping[str, str], now: dt.datetime) -> Plan:
    """What a pull publishes: discoveries of what the inventory does not hold, and one sighting of the rest."""
    found, read, skipped = await read_cluster(puller, environ)
    plan = Plan(puller.name, read=read, skipped=skipped)
    entities = sorted(found)
    held = (await ask(nc, OPS, "get_sightings", {"entities": entities}))["entities"] if entities else {}
    cluster = puller.cluster or puller.name
    for entity in entities:
        if entity not in held:
            data, new_id = _discovered(found[entity], puller, cluster), event_id("k8s", puller.name, entity)
            plan.events.append(Planned("ops-service-discovered", OPS, entity, data, new_id, "not in the inventory"))
    due = [e for e in entities if _due(held.get(e), now, puller.seen_every)]
    if due:
        slot = int(now.timestamp() // puller.seen_every)
        data = {"entities": due, "method": METHOD, "metadata": {"cluster": cluster, "namespaces": puller.namespaces}}
        plan.events.append(
            Planned(
                "ops-inventory-seen",
                OPS,
                f"cluster/{cluster}",
                data,
                event_id("seen", puller.name, slot, *due),
                f"{len(due)} seen running",
            )  # fmt: skip
        )
    return plan


def _discovered(seen: Seen, puller: KubernetesPuller, cluster: str) -> dict[str, Any]:
    data = {
        "name": seen.name,
        "method": METHOD,
        "environment": puller.environment,
        "host": cluster,
        "namespace": seen.namespace,
        "endpoints": sorted(set(seen.endpoints)),
        "attributes": {"cluster": cluster, "objects": seen.objects, "images": sorted(set(seen.images))},
    }
    return {k: v for k, v in data.items() if v is not None}


def _due(held: dict[str, Any] | None, now: dt.datetime, every: float) -> bool:
    """Whether the entity's last_seen is unknown or older than `every` (a new discovery: due at once)."""
    if held is None or not held.get("last_seen"):
        return True
    last = dt.datetime.fromisoformat(str(held["last_seen"]).replace("Z", "+00:00"))
    return (now - last).total_seconds() >= every
