"""A fin cost attributed to an ops service: one row per cost, summed per service when answering; a corrected
figure replaces the row of the cost it corrects."""

from __future__ import annotations

from vsmesh.events.schemas.fin import FinCostCorrected, FinCostRecorded
from vsmesh.hubs.ops.tables import service_costs
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers


def on_cost_recorded(event: FinCostRecorded | FinCostCorrected, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        service_costs,
        {
            "event_id": d.corrects if isinstance(event, FinCostCorrected) else event.id,  # type: ignore[union-attr]
            "entity": event.subject or f"service/{d.service}",
            "amount": d.amount.amount,
            "currency": d.amount.currency,
            "period": d.period,
            "category": d.category,
            "time": event.time,
            "seq": at.sequence,
        },
    )


def handlers() -> Handlers:
    return {FinCostRecorded: on_cost_recorded, FinCostCorrected: on_cost_recorded}
