"""Why a service is the colour it is, in words a person reads: its health evidence and its open incidents.

Pure: the described service's evidence rows (with their event data as `detail`) and its open incidents in, a
colour and a reason out, at the time the evidence was aged for (service_view.describe_service).

The rule an incident adds to the evidence: an open critical incident makes the service red (amber once it is
mitigated), an open high one at least amber; a lower one is named but changes no colour.
"""

from __future__ import annotations

from typing import Any

from vsmesh.hubs.ops.health import RANK, worst

Row = dict[str, Any]

INCIDENT_FLOOR = {"critical": "red", "high": "amber"}
_NOTES = ("error", "reason", "message", "note")  # what a health check's observations may say in words
_DAY_S = 86400.0


def judge(status: str | None, evidence: list[Row], incidents: list[Row]) -> dict[str, Any]:
    """{status, reason, event_id, incident_id}: the colour shown (None: nothing known), why, and the event
    behind it (the incident's when an incident decides the colour). `status` is the evidence's, aged."""
    deciding = _deciding(evidence)
    said = _evidence_reason(deciding) if deciding else "no evidence yet"
    ordered = _by_severity(incidents)
    floors = [f for f in map(_floor, ordered) if f]
    floor = worst(floors) if floors else None
    shown = [c for c in (status, floor) if c]
    named = [_incident_words(i) for i in ordered]
    leading = next((i for i in ordered if _floor(i) == floor), None) if floor else None
    if leading is not None and RANK[floor] >= RANK.get(status or "", -1):
        parts, event_id = [*named, *([said] if status != "green" else [])], leading["incident_id"]
    else:
        leading, parts = None, [said, *named]
        event_id = deciding.get("event_id") if deciding else None
    return {
        "status": worst(shown) if shown else None,
        "reason": "; ".join(parts),
        "event_id": event_id,  # an incident's id is the id of the event that opened it
        "incident_id": leading["incident_id"] if leading else None,
    }


def _floor(incident: Row) -> str | None:
    floor = INCIDENT_FLOOR.get(incident.get("severity") or "")
    if floor == "red" and incident.get("status") == "mitigated":
        return "amber"
    return floor


def _by_severity(incidents: list[Row]) -> list[Row]:
    order = ("critical", "high", "medium", "low", "info")
    rank = {s: i for i, s in enumerate(order)}
    return sorted(incidents, key=lambda i: rank.get(i.get("severity") or "", len(order)))


def _incident_words(incident: Row) -> str:
    status = incident.get("status")
    state = f", {status}" if status and status != "open" else ""
    return f"open {incident.get('severity') or 'unrated'} incident{state}: {incident.get('title') or 'untitled'}"


def _deciding(evidence: list[Row]) -> Row | None:
    """The evidence that sets the colour: the worst, and of equals the oldest (the one that ages first)."""
    if not evidence:
        return None
    return max(evidence, key=lambda e: (RANK.get(e.get("status") or "", 1), e.get("age_minutes") or 0))


def _evidence_reason(e: Row) -> str:
    observed, effective = e.get("observed"), e.get("status")
    if RANK.get(effective or "", 1) > RANK.get(observed or "", 1):  # only its age made it worse
        if e.get("at") is None:
            return f"{_kind_words(e)} without a time: not proven fresh"
        return f"no evidence for {span(e.get('age_minutes') or 0)}"
    return _observed_reason(e)


def _kind_words(e: Row) -> str:
    return {"endpoint": "endpoint check", "health": "health check"}.get(e.get("kind") or "", e.get("kind") or "check")


def _probe(detail: Row) -> Row:
    """What a probe runner wrote in an event's metadata; {} when the metadata holds something else under `probe`
    (metadata is free-form: any publisher may put any value there)."""
    metadata = detail.get("metadata")
    probe = metadata.get("probe") if isinstance(metadata, dict) else None
    return probe if isinstance(probe, dict) else {}


def _failed(probe: Row) -> list[Row]:
    conditions = probe.get("conditions")
    return [c for c in conditions if isinstance(c, dict) and not c.get("held")] if isinstance(conditions, list) else []


def _observed_reason(e: Row) -> str:
    detail = e.get("detail") if isinstance(e.get("detail"), dict) else {}
    if e.get("kind") == "endpoint":
        return _endpoint_reason(detail, e)
    probe = _probe(detail)
    if e.get("observed") == "green":
        return f"probe {probe['name']} passed" if probe.get("name") else "health check passed"
    failed = _failed(probe)
    if failed:
        return condition_words(failed[0], probe.get("error"))
    if probe.get("error"):
        return str(probe["error"])
    seen = detail.get("observations") if isinstance(detail.get("observations"), dict) else {}
    note = next((seen[k] for k in _NOTES if isinstance(seen.get(k), str) and seen[k]), None)
    if note:
        return f"health check {e.get('observed')}: {note}"
    by = f" by {e['actor']}" if e.get("actor") else ""
    return f"health check reported {e.get('observed')}{by}"


def _endpoint_reason(detail: Row, e: Row) -> str:
    url = detail.get("endpoint") or e.get("entity")
    seen, expected = detail.get("observed_status"), detail.get("expected_status")
    if seen is None:
        error = detail.get("error")
        return f"no answer from {url}" + (f": {error}" if error else "")
    if e.get("observed") != "green" and expected is not None and seen != expected:
        return f"HTTP {seen} from {url} (expected {expected})"
    failed = _failed(_probe(detail))
    if e.get("observed") != "green" and failed:
        return f"{url}: {condition_words(failed[0], detail.get('error'))}"
    return f"HTTP {seen} from {url}" + (", as expected" if e.get("observed") == "green" else "")


def condition_words(outcome: Row, error: str | None = None) -> str:
    """A failed probe condition in words: what was seen against what was wanted."""
    text, seen = str(outcome.get("condition") or ""), outcome.get("observed")
    if "[CERTIFICATE_EXPIRATION]" in text and isinstance(seen, int | float):
        days = seen / _DAY_S
        if days <= 0:
            return f"TLS certificate expired {_days(-days)} ago"
        return f"TLS certificate expires in {_days(days)}"
    if "[CERTIFICATE_VALID]" in text:
        return f"TLS certificate not valid: {error}" if error else "TLS certificate not valid"
    if "[HOSTNAME_MATCH]" in text:
        return "TLS certificate does not name the host"
    if "[CONNECTED]" in text or seen is None:
        return error or f"nothing observed for {text}"
    if "[STATUS]" in text:
        return f"HTTP {seen} ({text} failed)"
    return f"{text} failed: saw {seen}"


def _days(days: float) -> str:
    if days < 1:
        hours = max(1, round(days * 24))
        return f"{hours} hour" + ("s" if hours != 1 else "")
    whole = round(days)
    return f"{whole} day" + ("s" if whole != 1 else "")


def span(minutes: float) -> str:
    """An age in the unit a person reads it in: 45 min, 26 h, 3 days."""
    if minutes < 90:
        return f"{max(1, round(minutes))} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"
