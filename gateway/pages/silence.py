"""Silencing from an event's page: what the form starts from, and the silence a signed-in person's form asks
canon-hub for, as that person.

The page knows an event's hub, type and entity when a coupling chain holds it (the trace) or the notifier told of
it (its ledger: the page a notification leads to); otherwise the person writes the matchers. The form offers
hub, entity and type, each a glob; those left empty match anything, and at least one must be given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.durations import until_time
from vsmesh.notify.queries import notified_facts
from vsmesh.notify.routes import Facts, silence_matches

OFFERED = ("hub", "entity", "type")  # what the form matches on; a silence may also match horizon and severity


def _in_chain(nodes: list[dict[str, Any]], event_id: str) -> dict[str, Any] | None:
    for node in nodes:
        if node["id"] == event_id:
            return node
        found = _in_chain(node["children"], event_id)
        if found is not None:
            return found
    return None


async def event_facts(engine: AsyncEngine | None, chain: dict[str, Any] | None, event_id: str) -> dict[str, str]:
    """The event's hub, type, entity and horizon where the page can know them; empty where it cannot."""
    node = _in_chain(chain["roots"], event_id) if chain else None
    if node is not None:
        return {k: node[k] or "" for k in ("hub", "type", "entity", "horizon")}
    told = await notified_facts(engine, event_id) if engine is not None else None
    return dict(told or {})


def silences_on(silences: list[dict[str, Any]], facts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The silences in force that hold back what the event's notifications would tell (none when it is unknown)."""
    if not facts.get("hub"):
        return []
    known = Facts(facts["hub"], facts.get("type", ""), facts.get("entity", ""), facts.get("horizon", ""),
                  facts.get("severity") or None)  # fmt: skip
    return [s for s in silences if silence_matches(s["matchers"], known)]


def silence_request(form: Mapping[str, Any], event_id: str, who: str, kind: str) -> dict[str, Any]:
    """canon-hub's `set_silence` request from the page's form, as the person `who`; ValueError saying what to fix."""
    matchers = {k: v for k in OFFERED if (v := str(form.get(k) or "").strip())}
    if not matchers:
        raise ValueError("give at least one of hub, entity or type to match")
    reason = str(form.get("reason") or "").strip()
    if not reason:
        raise ValueError("reason: say why the notifications are held back")
    try:
        until = until_time(str(form.get("until") or ""))
    except ValueError as e:
        raise ValueError(f"until {e}") from None
    return {"matchers": matchers, "until": until.isoformat(), "reason": reason, "actor": who, "actor_kind": kind,
            "metadata": {"via": "pages", "event": event_id}, "causation_id": event_id}  # fmt: skip
