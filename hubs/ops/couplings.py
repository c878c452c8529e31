"""ops-hub's couplings: dev deployments become ops change records; fin costs reach ops per service."""

from __future__ import annotations

from vsmesh.events.schemas.dev import DevDeploymentCompleted
from vsmesh.events.schemas.fin import CostRecordedData, FinCostCorrected, FinCostRecorded
from vsmesh.events.schemas.ops import OpsChangeRecorded, OpsReleaseObserved
from vsmesh.hubs.ops import manifest
from vsmesh.projectors.couplings.coupling import Coupling, Emit, derived_id

DEPLOYMENT = "dev-deployment-to-ops-change"
COST = "fin-cost-to-ops-service"


def deployment_to_change(event: DevDeploymentCompleted) -> list[Emit]:
    """A completed deployment is a change to the running estate and a release seen where it runs."""
    d = event.data
    entity = f"service/{d.service}"
    where = f" to {d.environment}" if d.environment else ""
    change = {
        "summary": f"deployed {d.service} {d.version}{where}",
        "change_kind": "deployment",
        "environment": d.environment,
        "version": d.version,
        "rollback_path": d.rollback_path,
        "reference": d.deployment_id or event.id,
    }
    release = {"release": d.service, "version": d.version, "environment": d.environment}
    return [
        Emit("ops-change-recorded", manifest.SLUG, entity, _present(change)),
        Emit("ops-release-observed", manifest.SLUG, entity, _present(release), key="release"),
    ]


def cost_to_service(event: FinCostRecorded | FinCostCorrected) -> list[Emit]:
    """A cost attributed to a service is recorded against that service in ops (summed in `ops services`); a
    corrected figure corrects ops' copy of the cost (the id this coupling gave it)."""
    d = event.data
    if not d.service:
        return []
    if isinstance(event, FinCostCorrected):
        corrects = {"corrects": derived_id(COST, event.data.corrects)}
        return [Emit("fin-cost-corrected", manifest.SLUG, f"service/{d.service}", _present({**_cost(d), **corrects}))]
    return [Emit("fin-cost-recorded", manifest.SLUG, f"service/{d.service}", _present(_cost(d)))]


def _cost(d: CostRecordedData) -> dict:
    return {
        "amount": {"amount": str(d.amount.amount), "currency": d.amount.currency},
        "service": d.service,
        "domain": d.domain,
        "category": d.category,
        "vendor": d.vendor,
        "period": d.period,
        "incurred_on": d.incurred_on.isoformat() if d.incurred_on else None,
    }


def _present(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=DEPLOYMENT,
            source_hub="dev-hub",
            target_hub=manifest.SLUG,
            reacts_to=(DevDeploymentCompleted,),
            react=deployment_to_change,
            emits=(OpsChangeRecorded, OpsReleaseObserved),
            description="a completed dev deployment → ops change record + release observed",
        ),
        Coupling(
            name=COST,
            source_hub="fin-hub",
            target_hub=manifest.SLUG,
            reacts_to=(FinCostRecorded, FinCostCorrected),
            react=cost_to_service,
            emits=(FinCostRecorded, FinCostCorrected),
            description="a fin cost attributed to a service → that service's cost in ops",
        ),
    ]
