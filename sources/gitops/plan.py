"""The difference between what a commit declares and what the hubs hold, as the events that close it.

Things are compared by content, never by id: a second sync of the same commit finds nothing to do, and a change
made by hand (a mandate granted, a budget changed) is found however it was made. Each event's id derives from the
file's path and blob id, what it is about and what the hub held, so a retried or racing sync stores it once.

A difference on a file the repository did not change since the last good commit is drift: the hub was changed
outside the repository. The sync restores the repository's truth either way, and says which was which.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import msgspec

from vsmesh.sources.gitops.declared import Declared
from vsmesh.sources.gitops.derive import Derived, by_key
from vsmesh.sources.gitops.held import Held

# Fixed forever: changing it would give every synced event a new id, so a resync would publish it again.
GITOPS_NAMESPACE = uuid.UUID("3b0f1e52-6a8c-4d7e-9f21-5c4a7e0d9b13")
RETIRED_VERSION = "retired"


def gitops_id(*parts: str) -> str:
    return str(uuid.uuid5(GITOPS_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True)
class Change:
    """One event a sync publishes, and why."""

    action: str  # declare, retire, grant, revoke, allocate, register, unset
    declared: Declared  # what the file declares (for a removal: what it declared at the last good commit)
    event_id: str
    data: dict[str, Any]
    type: str
    subject: str
    drift: bool = False  # the hub disagreed with a file the repository did not change
    why: str = ""

    @property
    def path(self) -> str:
        return self.declared.path


def plan(desired: Derived, last: Derived | None, held: Held) -> list[Change]:
    """Every event that makes the hubs hold what `desired` declares (and no longer what `last` declared)."""
    before = by_key(last.declared) if last else {}
    now = by_key(desired.declared)
    removed = [d for k, d in before.items() if k not in now]
    return [
        *_policies(desired.of("policy"), [d for d in removed if d.kind == "policy"], before, held),
        *_mandates(desired, last, held),
        *_budgets(desired.of("budget"), [d for d in removed if d.kind == "budget"], before, held),
        *_entities(desired.of("entity"), [d for d in removed if d.kind == "entity"], before, held),
    ]


def _unchanged(d: Declared, before: dict[tuple[str, str], Declared]) -> bool:
    last = before.get((d.kind, d.key))
    return last is not None and last.blob == d.blob


def _change(action: str, d: Declared, event_id: str, before: dict, why: str, **parts: Any) -> Change:
    drift = _unchanged(d, before)
    why = f"{why} (drift: changed outside the repository)" if drift else why
    return Change(action, d, event_id, parts.pop("data", d.data), parts.pop("type", d.type),
                  parts.pop("subject", d.subject), drift, why)  # fmt: skip


def _json(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))


# -- policies ---------------------------------------------------------------------------------------------------

POLICY_FIELDS = ("title", "version", "scope", "statement", "document", "supersedes")


def _policies(declared: list[Declared], removed: list[Declared], before: dict, held: Held) -> list[Change]:
    changes = []
    for d in declared:
        h = held.policies.get(d.key)
        want = {k: d.data.get(k) for k in POLICY_FIELDS} | {"values": d.data["metadata"]["values"]}
        if h is not None and {k: h.get(k) for k in POLICY_FIELDS} | {"values": h.get("values") or {}} == _json(want):
            continue
        event_id = gitops_id(d.path, d.blob, d.key, h["event_id"] if h else "")
        changes.append(_change("declare", d, event_id, before, f"policy {d.key} {d.data.get('version') or ''}"))
    for d in removed:
        h = held.policies.get(d.key)
        if h is None or h.get("version") == RETIRED_VERSION:
            continue
        statement = f"retired: {d.path} was removed from the repository"
        data = {"policy": d.key, "title": h.get("title") or d.key, "version": RETIRED_VERSION,
                "statement": statement, "metadata": {"values": {}}}  # fmt: skip
        event_id = gitops_id(d.path, d.blob, d.key, "retired", h["event_id"])
        changes.append(Change("retire", d, event_id, data, d.type, d.subject, why=f"policy {d.key}: file removed"))
    return changes


# -- mandates ---------------------------------------------------------------------------------------------------


def _mandates(desired: Derived, last: Derived | None, held: Held) -> list[Change]:
    before = by_key(last.declared) if last else {}
    declared = desired.of("mandate")
    previous = last.of("mandate") if last else []
    holders = {d.data["holder"] for d in [*declared, *previous]}
    in_force = [m for m in held.mandates if m["holder"] in holders]
    resolved: dict[str, str] = {}  # mandate file → the grant in force for it after this sync
    used: set[str] = set()
    changes: list[Change] = []
    for d in _delegators_first(declared):
        source = d.data.get("metadata", {}).get("delegated_from_file")
        want = _mandate_data(d, resolved.get(source) if source else None)
        match = next((m for m in in_force if m["mandate_id"] not in used and _same_mandate(m, want)), None)
        # canon's rows do not show approve conditions and caps: a file changed since the last good commit is
        # granted anew (and its old grant revoked below) even when every shown field agrees.
        if match is not None and (last is None or _unchanged(d, before) or not _reworded(d, before)):
            used.add(match["mandate_id"])
            resolved[d.path] = match["mandate_id"]
            continue
        of_holder = sorted(m["mandate_id"] for m in in_force if m["holder"] == want["holder"])
        event_id = gitops_id(d.path, d.blob, "grant", ",".join(of_holder), want.get("delegated_from") or "")
        resolved[d.path] = event_id
        why = f"mandate {want['role']} for {want['holder']}: {want['scope']}"
        changes.append(_change("grant", d, event_id, before, why, data=want))
    removed_holders = {d.data["holder"] for d in previous if ("mandate", d.key) not in by_key(declared)}
    changed_holders = {d.data["holder"] for d in declared if not _unchanged(d, before)} | removed_holders
    files = {d.data["holder"]: d for d in [*previous, *declared]}
    for m in in_force:
        if m["mandate_id"] in used:
            continue
        d = files[m["holder"]]
        data = {"mandate_id": m["mandate_id"], "reason": f"not declared by the repository ({d.path})"}
        drift = m["holder"] not in changed_holders
        why = f"mandate {m['role']} of {m['holder']}" + (" (drift: granted outside the repository)" if drift else "")
        event_id = gitops_id("revoke", m["mandate_id"])
        subject = f"mandate/{m['holder']}"
        changes.append(Change("revoke", d, event_id, data, "canon-mandate-revoked", subject, drift, why))
    return changes


def _delegators_first(declared: list[Declared]) -> list[Declared]:
    """Each mandate after the one it is delegated from (the chain's grant id goes into the delegate's event)."""
    done: list[Declared] = []
    paths: set[str] = set()
    todo = list(declared)
    while todo:
        ready = [d for d in todo if d.data.get("metadata", {}).get("delegated_from_file") in (None, *paths)]
        ready = ready or todo[:1]  # a cycle: derive.py refuses it; never loop here
        for d in ready:
            todo.remove(d)
            done.append(d)
            paths.add(d.path)
    return done


def _mandate_data(d: Declared, delegated_from: str | None) -> dict[str, Any]:
    meta = {k: v for k, v in d.data.get("metadata", {}).items() if k != "delegated_from_file"}
    data = {**{k: v for k, v in d.data.items() if k != "metadata"}, "metadata": meta}
    return data | ({"delegated_from": delegated_from} if delegated_from else {})


def _reworded(d: Declared, before: dict[tuple[str, str], Declared]) -> bool:
    """The file changed in what canon's rows do not show (approve conditions, caps) since the last good commit."""
    last = before.get((d.kind, d.key))
    hidden = ("approve", "caps")
    return last is None or any(last.data.get(k) != d.data.get(k) for k in hidden)


def _same_mandate(held: dict[str, Any], want: dict[str, Any]) -> bool:
    same = all(held.get(k) == want[k] for k in ("role", "holder", "scope"))
    same = same and list(held.get("constraints") or []) == list(want["constraints"])
    same = same and _time(held.get("granted_until")) == _time(want["granted_until"])
    return same and held.get("delegated_from") == want.get("delegated_from")


def _time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# -- budgets ----------------------------------------------------------------------------------------------------


def _budgets(declared: list[Declared], removed: list[Declared], before: dict, held: Held) -> list[Change]:
    changes = []
    for d in [*declared, *removed]:
        gone = d in removed
        want = Decimal(0) if gone else Decimal(d.data["amount"]["amount"])
        has = held.budgets.get(d.key, Decimal(0))
        if has == want:
            continue
        data = {**d.data, "amount": {**d.data["amount"], "amount": str(want - has)}}
        event_id = gitops_id(d.path, d.blob, d.key, "removed" if gone else "", str(has))
        why = f"budget {d.key}: {has} → {want}" + (" (file removed)" if gone else "")
        changes.append(_change("allocate", d, event_id, {} if gone else before, why, data=data))
    return changes


# -- catalog entities -------------------------------------------------------------------------------------------

ENTITY_FIELDS = ("kind", "kind_detail", "name", "environment", "owner")


def _entities(declared: list[Declared], removed: list[Declared], before: dict, held: Held) -> list[Change]:
    changes = []
    for d in declared:
        h = held.entities.get(d.key)
        if h is not None and not h.get("retired_at") and _same_entity(h, d.data):
            continue
        registered = h.get("registered_event_id") or "" if h else ""
        event_id = gitops_id(d.path, d.blob, d.key, registered, str(h.get("retired_at") or "") if h else "")
        changes.append(_change("register", d, event_id, before, f"{d.key} ({d.path})"))
        extra = sorted(set(h.get("attributes") or {}) - set(d.data["attributes"])) if h else []
        if extra:
            data = {"removed_attributes": extra}
            unset = replace(d, type="ops-inventory-updated")
            changes.append(_change("unset", unset, gitops_id(event_id, "unset"), before,
                                   f"{d.key}: attributes {', '.join(extra)} no longer declared",
                                   data=data, type="ops-inventory-updated"))  # fmt: skip
    for d in removed:
        h = held.entities.get(d.key)
        if h is None or h.get("retired_at"):
            continue
        data = {"reason": f"{d.path} no longer declares it"}
        event_id = gitops_id(d.path, d.blob, d.key, "retired", h.get("registered_event_id") or "")
        changes.append(Change("retire", d, event_id, data, "ops-inventory-retired", d.subject, why=f"{d.key} removed"))
    return changes


def _same_entity(held: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(held.get(k) == want.get(k) for k in ENTITY_FIELDS) and (held.get("attributes") or {}) == _json(
        want["attributes"]
    )
