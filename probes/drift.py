"""Drift: what a probe observes against what the ops inventory declares, i.e. what runs differs from what the
owning repo declares (a version installed by hand, a config edited in place).

A probe's `drift:` checks name an inventory attribute (e.g. `version` of `service/gitea`) and the observed
value it must equal (e.g. `[BODY].version`). After a run, the entity's declared attributes are compared with
what was seen; an `ops-drift-detected` is published once per change of the differing set (not once per run),
and one with `resolved: true` (desired == actual) when what runs matches the declaration again.

What was reported last is kept here and, after a restart, read back from ops-hub's drift row of the entity
(`get_inventory`), so a restart repeats nothing. A declaration that is missing, or a value the run did not
observe (no answer: the probe's own alert says so), is not judged: neither drift nor its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsmesh.probes.conditions import parse_observed, same_value
from vsmesh.probes.consequences import Pending
from vsmesh.probes.evidence import Result

_RANK = ("info", "low", "medium", "high", "critical")

# (desired, actual) of the differing attributes, as reported last; None: in line (or nothing reported)
Reported = tuple[dict[str, Any], dict[str, Any]] | None


@dataclass
class DriftWatch:
    reported: dict[tuple[str, str], Reported] = field(default_factory=dict)  # (probe, entity) -> last reported

    def judge(self, result: Result, entity: str, item: dict[str, Any]) -> Pending | None:
        """The drift event this result calls for about `entity` (its inventory `item`), if any."""
        probe = result.probe
        declared = item.get("attributes") or {}
        compared: dict[str, tuple[Any, Any]] = {}
        checks = [c for c in probe.drift if (c.of or probe.entity) == entity and c.attribute in declared]
        for check in checks:
            seen = parse_observed(check.observed, probe.PLACEHOLDERS).observed_in(result.observation.values)
            if seen is not None:
                compared[check.attribute] = (declared[check.attribute], seen)
        if not compared:
            return None
        differing = {k: v for k, v in compared.items() if not same_value(*v)}
        now: Reported = (
            ({k: d for k, (d, _) in differing.items()}, {k: a for k, (_, a) in differing.items()})
            if differing
            else None
        )
        key = (probe.name, entity)
        last = self.reported[key] if key in self.reported else _recovered(item.get("drift"))
        if now == last:
            return None
        self.reported[key] = now
        if now is not None:
            severity = max((c.severity for c in checks if c.attribute in differing), key=_RANK.index)
            return _event(result, entity, now, severity, resolved=False)
        assert last is not None
        back = {k: compared[k][1] for k in last[0] if k in compared}  # the attributes that drifted, now in line
        return _event(result, entity, (back, back), "info", resolved=True)


def _recovered(row: dict[str, Any] | None) -> Reported:
    """The drift ops-hub holds for the entity: open while its desired and actual differ."""
    if not row or not row.get("open"):
        return None
    return dict(row.get("desired") or {}), dict(row.get("actual") or {})


def _event(result: Result, entity: str, shown: tuple[dict, dict], severity: str, *, resolved: bool) -> Pending:
    probe = result.probe
    desired, actual = shown
    if resolved:
        summary = ", ".join(f"{k} {v!r} as declared" for k, v in actual.items()) + f" (probe {probe.name})"
    else:
        summary = ", ".join(f"{k}: declared {desired[k]!r}, runs {actual[k]!r}" for k in desired)
    sources = [c.source_of_truth for c in probe.drift if c.attribute in desired and c.source_of_truth]
    data = {
        "summary": summary,
        "desired": desired,
        "actual": actual,
        "source_of_truth": sources[0] if sources else None,
        "severity": severity,
        "resolved": resolved,
        "metadata": {"probe": probe.name},
    }
    return Pending("ops-drift-detected", entity, data, causation_id=result.event_id)
