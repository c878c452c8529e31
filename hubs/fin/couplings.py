"""fin-hub's coupling: a recorded balance projects the runway, and a runway below threshold is published."""

from __future__ import annotations

from vsmesh.events.schemas.fin import FinBalanceRecorded, FinRunwayProjected
from vsmesh.hubs.canon.values import check_values
from vsmesh.hubs.fin import manifest
from vsmesh.projectors.couplings.coupling import Context, Coupling, Emit

BALANCE = "fin-balance-to-runway"


async def balance_to_runway(event: FinBalanceRecorded, ctx: Context) -> list[Emit]:
    """Ask fin's read model (once it has this balance) for the runway; publish it when it is below canon's
    `runway_alert_months` (VSMESH_FIN_RUNWAY_ALERT_MONTHS while no canon policy declares one)."""
    request = {"currency": event.data.balance.currency, "wait_for_seq": {ctx.stream: ctx.seq}}
    declared = check_values((await ctx.ask("canon-hub", "get_policies", {}))["policies"]).runway_alert_months
    if declared is not None:
        request["alert_threshold_months"] = float(declared.value)
    if event.data.as_of:
        request["as_of"] = event.data.as_of.isoformat()
    runway = await ctx.ask(manifest.SLUG, "get_runway", request)
    if not runway["below_threshold"] or runway["months_remaining"] is None:
        return []
    currency = runway["currency"]
    data = {
        "balance": {"amount": str(runway["balance"]), "currency": currency},
        "monthly_burn": {"amount": str(runway["monthly_burn"]), "currency": currency},
        "months_remaining": float(runway["months_remaining"]),
        "alert_threshold_months": float(runway["alert_threshold_months"]),
        "method": "balance recorded: average recorded spend plus commitments",
    }
    return [Emit("fin-runway-projected", manifest.SLUG, f"runway/{currency}", data)]


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=BALANCE,
            source_hub=manifest.SLUG,
            target_hub=manifest.SLUG,
            reacts_to=(FinBalanceRecorded,),
            react=balance_to_runway,
            emits=(FinRunwayProjected,),
            description="a fin balance → runway projected, when below the threshold",
        ),
    ]
