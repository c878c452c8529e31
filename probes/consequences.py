"""What follows from probe results: one alert per failing probe, a risk per expiring certificate, and
readiness gates that follow their probes.

The runner publishes these itself, from state it keeps here and recovers at start from ops-hub's read model
(the open alerts and risks its own actor raised, found by `metadata.probe`), so a restart re-raises nothing.
A coupling could react to the evidence events instead, but it would need the probe file (which conditions,
which gates, the warning window) and the evidence stream carries unchanged results only at a lower rate;
the runner holds both the file and every result.

Gates have no open/closed state to recover: after a restart a gate's status is published once again when
its probes have run (a repeat of the same status, naming fresher evidence), then only on change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsmesh.events.envelope import new_event_id
from vsmesh.probes.evidence import Result
from vsmesh.probes.model import GateSpec, ProbeFile

DAY = 86400.0


@dataclass(frozen=True)
class Pending:
    """An event to publish on ops-hub, its id chosen here so the state can name it before it is stored."""

    event_type: str
    subject: str | None
    data: dict[str, Any]
    event_id: str = field(default_factory=new_event_id)
    causation_id: str | None = None


def _probe_of(row: dict[str, Any]) -> str | None:
    meta = row.get("metadata") or {}
    return meta.get("probe") if isinstance(meta.get("probe"), str) else None


@dataclass
class Consequences:
    probes: ProbeFile
    warn_days: float
    open_alerts: dict[str, str] = field(default_factory=dict)  # probe -> id of its alert-raised
    open_risks: dict[str, str] = field(default_factory=dict)  # probe -> id of its risk-surfaced
    gate_status: dict[str, str] = field(default_factory=dict)
    latest: dict[str, Result] = field(default_factory=dict)  # probe -> its latest result

    def recover(self, alerts: list[dict[str, Any]], risks: list[dict[str, Any]], actor: str) -> None:
        """Adopt the open alerts and risks this runner's actor raised for probes of this file (oldest wins)."""
        names = {p.name for p in self.probes.probes}
        for row in sorted(alerts, key=lambda r: str(r.get("raised_at"))):
            probe = _probe_of(row)
            if probe in names and row.get("raised_by") == actor and row.get("status") != "resolved":
                self.open_alerts.setdefault(probe, row["alert_id"])
        for row in sorted(risks, key=lambda r: str(r.get("surfaced_at"))):
            probe = _probe_of(row)
            if probe in names and row.get("surfaced_by") == actor and row.get("status") == "surfaced":
                self.open_risks.setdefault(probe, row["risk_id"])

    def after(self, result: Result) -> list[Pending]:
        """The events this result calls for, in the order to publish them; the state moves at once."""
        self.latest[result.probe.name] = result
        return [*self._alert(result), *self._risk(result), *self._gates(result)]

    def _alert(self, result: Result) -> list[Pending]:
        probe = result.probe
        opened = self.open_alerts.get(probe.name)
        if not result.passed and opened is None:
            failed = [o["condition"] for o in result.outcomes if not o["held"]]
            why = result.observation.error or "failed: " + "; ".join(failed)
            pending = Pending(
                "alert-raised",
                probe.entity,
                {
                    "title": f"probe {probe.name} failing on {probe.entity}",
                    "severity": probe.severity,
                    "description": why,
                    "metadata": {"probe": probe.name},
                },
                causation_id=result.event_id,
            )
            self.open_alerts[probe.name] = pending.event_id
            return [pending]
        if result.passed and opened is not None:
            del self.open_alerts[probe.name]
            resolution = f"probe {probe.name} passes again: all {len(result.outcomes)} conditions hold"
            data = {"alert_id": opened, "resolution": resolution, "metadata": {"probe": probe.name}}
            return [Pending("alert-resolved", probe.entity, data, causation_id=result.event_id)]
        return []

    def _risk(self, result: Result) -> list[Pending]:
        left = result.observation.values.get("CERTIFICATE_EXPIRATION")
        if left is None:
            return []  # nothing seen of a certificate this time: keep what we knew
        probe, days = result.probe, left / DAY
        opened = self.open_risks.get(probe.name)
        if days < self.warn_days and opened is None:
            expires = result.observation.detail.get("tls_expires_at")
            pending = Pending(
                "risk-surfaced",
                probe.entity,
                {
                    "title": f"certificate of {probe.entity} expires in {max(days, 0):.1f} days",
                    "severity": "high" if days < 3 else "medium",
                    "likelihood": "almost-certain",
                    "category": "ops-certificate-expiry",
                    "description": f"expires at {expires}; probe {probe.name} warns below {self.warn_days:g} days",
                    "metadata": {"probe": probe.name},
                },
                causation_id=result.event_id,
            )
            self.open_risks[probe.name] = pending.event_id
            return [pending]
        if days >= self.warn_days and opened is not None:
            del self.open_risks[probe.name]
            data = {
                "risk_id": opened,
                "mitigation": f"certificate renewed: {days:.0f} days left",
                "metadata": {"probe": probe.name},
            }
            return [Pending("risk-mitigated", probe.entity, data, causation_id=result.event_id)]
        return []

    def _gates(self, result: Result) -> list[Pending]:
        return [p for g in self.probes.gates if result.probe.name in g.probes for p in self._gate(g)]

    def _gate(self, gate: GateSpec) -> list[Pending]:
        results = [self.latest.get(name) for name in gate.probes]
        if any(r is None for r in results):
            status = "red" if any(r is not None and not r.passed for r in results) else "amber"
        else:
            status = "green" if all(r.passed for r in results) else "red"  # type: ignore[union-attr]
        if self.gate_status.get(gate.gate) == status:
            return []
        self.gate_status[gate.gate] = status
        failing = [r.probe.name for r in results if r is not None and not r.passed]
        waiting = [n for n, r in zip(gate.probes, results, strict=True) if r is None]
        note = (
            f"probes failing: {', '.join(failing)}"
            if failing
            else f"waiting for probes: {', '.join(waiting)}"
            if waiting
            else f"all {len(results)} probes pass"
        )
        data = {
            "gate": gate.gate,
            "status": status,
            "owner_repo": gate.owner_repo,
            "evidence_required": gate.evidence_required,
            "evidence_event_ids": [r.event_id for r in results if r is not None and r.event_id],
            "migration_wave": gate.wave,
            "note": note,
            "metadata": {"probes": gate.probes},
        }
        return [Pending("ops-readiness-gate-updated", f"readiness-gate/{gate.gate}", data)]
