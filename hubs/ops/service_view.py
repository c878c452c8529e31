"""What runs where, why, who owns it, how it is reached, and what evidence proves it is healthy: the questions
an operator asks of each service, answered from the inventory and its evidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from vsmesh.hubs.ops.fold_inventory import name_of
from vsmesh.hubs.ops.health import Staleness, minutes_between, worst
from vsmesh.hubs.ops.queries import Row, Snapshot
from vsmesh.hubs.ops.verdict import judge

SERVICE_KINDS = ("service", "datastore")
HEALTH_KINDS = ("health", "endpoint")  # what proves a service healthy now; backups prove recoverability


def service_entities(snap: Snapshot) -> list[str]:
    """Catalogued or discovered services and data stores, plus services only seen in evidence."""
    known = {row["entity"] for row in snap.of_kind(*SERVICE_KINDS)}
    seen = {e for e in (*snap.evidence, *snap.costs) if e.startswith("service/")}
    return sorted(known | seen)


def _item(snap: Snapshot, entity: str) -> Row:
    return snap.items.get(entity) or {"entity": entity, "kind": "service", "name": name_of(entity), "attributes": {}}


def _evidence(snap: Snapshot, entity: str, staleness: Staleness, now: dt.datetime) -> list[Row]:
    return [
        {
            "entity": entity,
            "kind": e["kind"],
            "observed": e["status"],
            "status": staleness.effective(e["status"], e["at"], now),
            "at": e["at"],
            "age_minutes": round(minutes_between(e["at"], now), 1) if e["at"] else None,
            "summary": e["summary"],
            "event_id": e["event_id"],
            "actor": e["actor"],
            "detail": e.get("detail"),  # for the verdict's words; not in the answer (describe_service)
        }
        for e in snap.evidence.get(entity, [])
        if e["kind"] in HEALTH_KINDS
    ]


def _reach(snap: Snapshot, name: str, staleness: Staleness, now: dt.datetime) -> tuple[list[Row], list[Row]]:
    """The service's endpoints (with their verification) and its access paths."""
    endpoints = []
    for ep in snap.related("endpoint", "service", name):
        proof = _evidence(snap, ep["entity"], staleness, now)
        endpoints.append(
            {
                "name": ep["name"],
                "entity": ep["entity"],
                "url": ep["attributes"].get("url"),
                "status": worst(p["status"] for p in proof) if proof else None,
                "retired": ep["retired_at"] is not None,
            }
        )
    paths = [
        {
            "name": p["name"],
            "type": p["attributes"].get("type") or p["kind_detail"],
            "target": p["attributes"].get("target"),
            "auth": p["attributes"].get("auth_method"),
        }
        for p in snap.related("access-path", "service", name)
    ]
    return endpoints, paths


def _host_environment(snap: Snapshot, host: str | None) -> str | None:
    row = snap.items.get(f"host/{host}") if host else None
    return row["environment"] if row else None


def _evidence_of_service(snap: Snapshot, entity: str, staleness: Staleness, now: dt.datetime) -> list[Row]:
    proof = _evidence(snap, entity, staleness, now)
    for ep in snap.related("endpoint", "service", name_of(entity)):
        if ep["retired_at"] is None:
            proof += _evidence(snap, ep["entity"], staleness, now)
    return proof


def describe_service(
    snap: Snapshot, entity: str, staleness: Staleness, now: dt.datetime, incidents: list[Row]
) -> dict[str, Any]:
    """One service with its place, purpose, owner, reach and health evidence."""
    item = _item(snap, entity)
    attrs = item["attributes"]
    name = item.get("name") or name_of(entity)
    proof = _evidence_of_service(snap, entity, staleness, now)
    endpoints, paths = _reach(snap, name, staleness, now)
    retired = item.get("retired_at") is not None
    status = "retired" if retired else (worst(p["status"] for p in proof) if proof else None)
    own_incidents = [i for i in incidents if entity in (i["affected"] or [])]
    return {
        "name": name,
        "entity": entity,
        "kind": item.get("kind"),
        "kind_detail": item.get("kind_detail"),
        "status": status,
        "environment": item.get("environment") or _host_environment(snap, attrs.get("host")),
        "host": attrs.get("host"),
        "cluster": attrs.get("cluster"),
        "namespace": attrs.get("namespace"),
        "owner": item.get("owner"),
        "owner_repo": attrs.get("owner_repo"),
        "purpose": attrs.get("purpose"),
        "depends_on": attrs.get("depends_on") or [],
        "catalogued": item.get("registered_at") is not None,
        "discovered_via": item.get("discovered_via"),
        "last_seen": item.get("last_seen"),
        "retired": retired,
        "replaced_by": item.get("replaced_by"),
        "checked_at": max((p["at"] for p in proof if p["at"]), default=None),
        "evidence": [{k: v for k, v in p.items() if k != "detail"} for p in proof],
        # The colour a person is shown and why, in words: the evidence with the open incidents (verdict.py).
        "verdict": _RETIRED if retired else judge(status, proof, own_incidents),
        "certificates": certificates_seen(snap, entity, name, now),
        "endpoints": endpoints,
        "access_paths": paths,
        "backups": [b["name"] for b in snap.related("backup-set", "service", name)],
        "runbooks": [r["name"] for r in snap.related("runbook", "service", name)],
        "cost": {currency: str(total) for currency, total in snap.costs.get(entity, {}).items()},
        "open_incidents": [i["incident_id"] for i in own_incidents],
        "attributes": attrs,
        **certificate_and_backup(snap, entity, name, now),
    }


_RETIRED = {"status": "retired", "reason": "retired", "event_id": None, "incident_id": None}


def _when(value: Any) -> dt.datetime | None:
    """A time from evidence detail (JSONB gives ISO text); None when absent or unreadable."""
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def certificate_and_backup(snap: Snapshot, entity: str, name: str, now: dt.datetime) -> dict[str, Any]:
    """The earliest certificate expiry seen on the service or its endpoints (an http probe's
    `tls_expires_at`, a tls probe's observation) and the age of its newest verified backup."""
    entities = [entity, *(ep["entity"] for ep in snap.related("endpoint", "service", name) if ep["retired_at"] is None)]
    expiries = [
        _when(detail.get("tls_expires_at") or (detail.get("observations") or {}).get("tls_expires_at"))
        for e in entities
        for row in snap.evidence.get(e, [])
        if isinstance(detail := row.get("detail"), dict)
    ]
    expires = min((x for x in expiries if x), default=None)
    sets = [entity, *(b["entity"] for b in snap.related("backup-set", "service", name))]
    taken = [
        _when(row["detail"].get("taken_at")) or row["at"]
        for s in sets
        for row in snap.evidence.get(s, [])
        if row["kind"] == "backup" and row["status"] == "green" and isinstance(row.get("detail"), dict)
    ]
    newest = max((t for t in taken if t), default=None)
    return {
        "tls_expires_at": expires,
        "tls_days_left": round((expires - now).total_seconds() / 86400, 1) if expires else None,
        "backup_taken_at": newest,
        "backup_age_hours": round(minutes_between(newest, now) / 60, 1) if newest else None,
    }


def certificates_seen(snap: Snapshot, entity: str, name: str, now: dt.datetime) -> list[Row]:
    """Each certificate seen on the service or its live endpoints, per endpoint: a tls probe's subject and
    issuer, an http probe's expiry alone, with the days left at `now` and the evidence that saw it."""
    endpoints = [ep for ep in snap.related("endpoint", "service", name) if ep["retired_at"] is None]
    seen = []
    for where, ep in [(entity, None), *((ep["entity"], ep) for ep in endpoints)]:
        for row in snap.evidence.get(where, []):
            detail = row.get("detail") if isinstance(row.get("detail"), dict) else {}
            facts = detail.get("observations") or {}
            expires = _when(detail.get("tls_expires_at") or facts.get("tls_expires_at"))
            if expires is None:
                continue
            probe = (detail.get("metadata") or {}).get("probe") or {}
            shown = (ep["attributes"].get("url") or ep["name"]) if ep else detail.get("endpoint") or probe.get("name")
            seen.append(
                {
                    "entity": where,
                    "endpoint": shown or where,
                    "subject": facts.get("subject"),
                    "issuer": facts.get("issuer"),
                    "expires_at": expires,
                    "days_left": round((expires - now).total_seconds() / 86400, 1),
                    "checked_at": row["at"],
                    "event_id": row["event_id"],
                    "probe": probe.get("name"),
                }
            )
    return seen


def describe_services(
    snap: Snapshot, staleness: Staleness, now: dt.datetime, incidents: list[Row], **filters: Any
) -> list[dict[str, Any]]:
    """Every service matching the filters (`environment`, `name`, `include_retired`), by name."""
    found = [describe_service(snap, e, staleness, now, incidents) for e in service_entities(snap)]
    if not filters.get("include_retired"):
        found = [s for s in found if not s["retired"]]
    if filters.get("environment"):
        found = [s for s in found if s["environment"] == filters["environment"]]
    if filters.get("name"):
        found = [s for s in found if s["name"] == filters["name"]]
    return sorted(found, key=lambda s: (s["environment"] or "", s["name"]))
