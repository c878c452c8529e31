"""A probe's result as ops-hub evidence: which event, about which entity, saying which conditions held.

http probes are `ops-endpoint-verified` (status, the headers the conditions name, latency, TLS expiry and
the probe's verdict), backup probes `ops-backup-verified`, every other kind `ops-health-checked`. Each
carries `metadata.probe`: the probe's name and kind, each condition with its outcome and what was observed,
and the error if nothing (or less) was seen — so the evidence behind a colour can be traced to its probe.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from vsmesh.probes.conditions import Condition
from vsmesh.probes.model import BackupProbe, HttpProbe, ProbeBase
from vsmesh.probes.observation import Observation

OBSERVED_TEXT_LIMIT = 200  # a condition on a whole body must not copy the body into every event


@dataclass
class Result:
    """One run of one probe."""

    probe: ProbeBase
    observation: Observation
    passed: bool
    outcomes: list[dict[str, Any]]
    at: dt.datetime
    late_s: float = 0.0  # how long after its scheduled time the probe started
    event_id: str | None = None  # the evidence event, once published (or the last one, when unchanged)
    published: bool = field(default=False)

    def signature(self) -> tuple[Any, ...]:
        """What makes a result news: the verdict, each condition's outcome and the error — not latencies."""
        return (self.passed, tuple(o["held"] for o in self.outcomes), self.observation.error)


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > OBSERVED_TEXT_LIMIT:
        return value[:OBSERVED_TEXT_LIMIT] + "…"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def probe_metadata(result: Result) -> dict[str, Any]:
    outcomes = [{**o, "observed": _short(o["observed"])} for o in result.outcomes]
    probe = {"name": result.probe.name, "kind": result.probe.kind, "conditions": outcomes}  # type: ignore[attr-defined]
    if result.observation.error:
        probe["error"] = result.observation.error
    return {"probe": probe}


def evidence(result: Result) -> tuple[str, dict[str, Any]]:
    """(event type, data) of the result's evidence event; its subject is the probe's entity."""
    probe = result.probe
    if isinstance(probe, HttpProbe):
        return "ops-endpoint-verified", _endpoint(probe, result)
    if isinstance(probe, BackupProbe):
        return "ops-backup-verified", _backup(probe, result)
    return "ops-health-checked", _health(result)


def _endpoint(probe: HttpProbe, result: Result) -> dict[str, Any]:
    conditions: list[Condition] = probe.parsed()
    seen = result.observation.values
    status = next((c.value for c in conditions if c.placeholder == "STATUS" and c.op == "==" and _int(c.value)), None)
    expected_headers = {c.argument: str(c.value) for c in conditions if c.placeholder == "HEADER" and c.op == "=="}
    named = {(c.argument or "").lower() for c in conditions if c.placeholder == "HEADER"}
    # Only the headers a condition names: others may carry cookies or tokens.
    observed_headers = {k: v for k, v in (seen.get("HEADER") or {}).items() if k.lower() in named}
    return {
        "endpoint": probe.url,
        "method": probe.method,
        "expected_status": status if status is not None else seen.get("STATUS", 200),
        "observed_status": seen.get("STATUS"),
        "expected_headers": expected_headers,
        "observed_headers": observed_headers,
        "latency_ms": seen.get("RESPONSE_TIME"),
        "tls_expires_at": result.observation.detail.get("tls_expires_at"),
        "error": result.observation.error,
        "verdict": "passed" if result.passed else "failed",
        "metadata": probe_metadata(result),
    }


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _backup(probe: BackupProbe, result: Result) -> dict[str, Any]:
    detail = result.observation.detail
    failed = [o["condition"] for o in result.outcomes if not o["held"]]
    note = result.observation.error or ("failed: " + "; ".join(failed) if failed else None)
    return {
        "backup_set": probe.entity.split("/", 1)[1],
        "verdict": "passed" if result.passed else "failed",
        "taken_at": detail.get("taken_at"),
        "size_bytes": detail.get("size_bytes"),
        "location": detail.get("location") or str(probe.path),
        "tool": "vsmesh-probe",
        "detail": note,
        "metadata": probe_metadata(result),
    }


def _health(result: Result) -> dict[str, Any]:
    seen = {k: _short(v) for k, v in result.observation.values.items() if k not in ("HEADER", "BODY")}
    seen.update({k: _short(v) for k, v in result.observation.detail.items()})
    if result.observation.error:
        seen["error"] = result.observation.error
    return {"status": "green" if result.passed else "red", "observations": seen, "metadata": probe_metadata(result)}
