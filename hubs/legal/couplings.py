"""legal-hub's couplings: what other hubs' logs tell the legal registers.

- fin pays a vendor the register does not know → `legal-vendor-spend-seen` and a "vendor not reviewed" risk;
- ops says a service handles personal data (`attributes.personal_data`) → `legal-service-noted`;
- an actor of kind `agent` acts on a coded hub for the first time → `legal-agent-observed`.

Whether legal has seen an agent on a hub is asked of legal-hub's contract (its read model is the truth), and
the answer is remembered in the process for a while (`SeenAgents`): an agent's every write would otherwise
cost a contract request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from types import ModuleType
from typing import Any

from vsmesh.events.envelope import Event
from vsmesh.events.schemas import canon, dev, fin, ops, sec
from vsmesh.events.schemas.fin import FinCommitmentRecorded, FinCostRecorded
from vsmesh.events.schemas.ops import OpsInventoryRegistered, OpsInventoryUpdated
from vsmesh.events.schemas.risk import RiskSurfaced
from vsmesh.hubs.legal import events as legal
from vsmesh.hubs.legal import manifest
from vsmesh.hubs.legal.events import LegalAgentObserved, LegalServiceNoted, LegalVendorSpendSeen
from vsmesh.projectors.couplings.coupling import Context, Coupling, Emit

VENDOR = "fin-vendor-to-legal"
SERVICE = "ops-service-to-legal"
AGENT_SOURCES: dict[str, ModuleType] = {
    "ops-hub": ops,
    "dev-hub": dev,
    "fin-hub": fin,
    "canon-hub": canon,
    "sec-hub": sec,
    "legal-hub": legal,  # an agent recording vendors is acting too
}


def vendor_of(event: Event) -> str | None:
    if event.type == "fin-commitment-recorded" and event.data.kind == "salary":
        return None  # a person employed, not a vendor
    name = event.data.vendor if event.type == "fin-cost-recorded" else event.data.counterparty
    return name.strip().lower() if name and name.strip() else None


async def vendor_to_legal(event: Event, ctx: Context) -> list[Emit]:
    vendor = vendor_of(event)
    if vendor is None:
        return []
    answer: dict[str, Any] = await ctx.ask(manifest.SLUG, "vendor_known", {"vendor": vendor})
    if answer["known"]:
        return []
    subject = f"vendor/{vendor}"
    emits = [Emit("legal-vendor-spend-seen", manifest.SLUG, subject, {"vendor": vendor, "cause_event_id": event.id})]
    if not answer.get("spend_seen"):  # the first payment raises the risk; later ones only add evidence
        risk = {
            "title": f"vendor not reviewed: {vendor}",
            "severity": "medium",
            "category": "legal-vendor-not-reviewed",
            "description": f"fin-hub records money paid to {vendor} ({event.type} {event.id}); "
            "the vendor register has no entry: DPA, location and transfer mechanism are unknown",
        }
        emits.append(Emit("risk-surfaced", manifest.SLUG, subject, risk, key="risk"))
    return emits


def service_to_legal(event: Event) -> list[Emit]:
    attrs = event.data.attributes
    if "personal_data" not in attrs:
        return []
    if event.type == "ops-inventory-registered":
        if event.data.kind != "service":
            return []
        name = event.data.name
    else:
        if not (event.subject or "").startswith("service/"):
            return []
        name = event.subject.split("/", 1)[1]
    data = {"service": name, "personal_data": bool(attrs["personal_data"]), "cause_event_id": event.id}
    return [Emit("legal-service-noted", manifest.SLUG, f"service/{name}", data)]


class SeenAgents:
    """(agent, hub) pairs known to be seen, each for `keep_s` (then legal is asked again: an observation
    reverted meanwhile is noticed), at most `most` of them (the oldest go first).

    A pair is known from legal's answer, or from the observation this process emitted for it. The latter
    names its cause: asked again for that very cause (its batch failed and is retried, the observation may
    not be stored), it is not known, so the retry emits it again; any other event of the agent emits nothing,
    where asking legal before it applied the observation would have emitted a second one.
    """

    def __init__(self, keep_s: float = 60.0, most: int = 4096) -> None:
        self.keep_s, self.most = keep_s, most
        self._pairs: OrderedDict[tuple[str, str], tuple[float, str | None]] = OrderedDict()

    def known(self, pair: tuple[str, str], cause_id: str) -> bool:
        found = self._pairs.get(pair)
        if found is None:
            return False
        at, emitted_for = found
        if time.monotonic() - at > self.keep_s:
            del self._pairs[pair]
            return False
        return emitted_for != cause_id

    def add(self, pair: tuple[str, str], emitted_for: str | None = None) -> None:
        self._pairs[pair] = (time.monotonic(), emitted_for)
        self._pairs.move_to_end(pair)
        if len(self._pairs) > self.most:
            self._pairs.popitem(last=False)


def _agent_reaction(hub: str, seen: SeenAgents):
    async def agent_to_legal(event: Event, ctx: Context) -> list[Emit]:
        if event.actorkind != "agent":
            return []
        pair = (event.actor, hub)
        if seen.known(pair, event.id):
            return []
        if (await ctx.ask(manifest.SLUG, "agent_seen", {"agent": event.actor, "hub": hub}))["seen"]:
            seen.add(pair)
            return []
        seen.add(pair, emitted_for=event.id)
        data = {"actor": event.actor, "seen_on_hub": hub, "event_type": event.type, "cause_event_id": event.id}
        return [Emit("legal-agent-observed", manifest.SLUG, f"ai-system/{event.actor}", data)]

    return agent_to_legal


def _classes(module: ModuleType) -> tuple[type[Event], ...]:
    return tuple(
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, Event) and c.__module__ == module.__name__
    )


def couplings() -> list[Coupling]:
    agents = [
        Coupling(
            name=f"{hub.removesuffix('-hub')}-agent-to-legal",
            source_hub=hub,
            target_hub=manifest.SLUG,
            reacts_to=_classes(family),
            react=_agent_reaction(hub, SeenAgents()),
            emits=(LegalAgentObserved,),
            description=f"an agent acting on {hub} for the first time → legal's AI register check",
        )
        for hub, family in AGENT_SOURCES.items()
    ]
    return [
        Coupling(
            name=VENDOR,
            source_hub="fin-hub",
            target_hub=manifest.SLUG,
            reacts_to=(FinCostRecorded, FinCommitmentRecorded),
            react=vendor_to_legal,
            emits=(LegalVendorSpendSeen, RiskSurfaced),
            description="fin pays a vendor the register does not know → vendor-not-reviewed risk",
        ),
        Coupling(
            name=SERVICE,
            source_hub="ops-hub",
            target_hub=manifest.SLUG,
            reacts_to=(OpsInventoryRegistered, OpsInventoryUpdated),
            react=service_to_legal,
            emits=(LegalServiceNoted,),
            description="an ops service's personal_data attribute → legal's coverage check",
        ),
        *agents,
    ]
