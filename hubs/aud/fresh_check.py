"""Every service of ops-hub's inventory has evidence within its staleness bound, as ops-hub judges it through its
contract (`get_services`: each piece of evidence observed, and aged by ops' own bounds). Evidence whose age made
it worse than what was observed is stale: the probe or service that proved it stopped reporting. A service never
proven at all is counted in what the check read, not raised: a new inventory entry waits for its first probe."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.hubs.aud.findings import CheckResult, Finding

CHECK = "freshness"
OPS_HUB = "ops-hub"
PAGE = 1000


async def services(nc: Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        answer = await ask(nc, OPS_HUB, "get_services", {"limit": PAGE, "offset": offset})
        found += answer["services"]
        offset = answer["next_offset"]
    return found


async def check_freshness(nc: Client) -> CheckResult:
    live = [s for s in await services(nc) if not s.get("retired")]
    findings = [f for s in live if (f := _stale(s))]
    unproven = [s["entity"] for s in live if not s.get("evidence")]
    read = f"{OPS_HUB} get_services: {len(live)} services, {len(live) - len(unproven)} with evidence"
    if unproven:
        read += f" ({len(unproven)} not proven yet: {', '.join(unproven[:5])}{' …' if len(unproven) > 5 else ''})"
    return CheckResult(CHECK, read, findings)


def _stale(service: dict[str, Any]) -> Finding | None:
    aged = [e for e in service.get("evidence") or [] if e.get("status") != e.get("observed")]
    if not aged:
        return None
    oldest = max(aged, key=lambda e: e.get("age_minutes") or 0)
    age = oldest.get("age_minutes")
    said = f"{age:.0f} min old" if age is not None else "without a time"
    title = (
        f"{service['entity']}: evidence stale ({oldest['entity']} {oldest['kind']}, {said}; shown {oldest['status']})"
    )
    evidence = {
        "service": service["entity"],
        "stale": [{k: e.get(k) for k in ("entity", "kind", "observed", "status", "at", "event_id")} for e in aged],
    }
    return Finding(f"{CHECK}/{service['entity']}", CHECK, title, "medium", evidence)
