"""sec-hub's couplings: an expired exception alerts on sec and escalates to canon; a critical finding on a
production service is an ops risk on that service; ops' secret sets and canon's rotation policy reach sec."""

from __future__ import annotations

from typing import Any

from vsmesh.events.schemas.alert import AlertRaised
from vsmesh.events.schemas.canon import CanonEscalationRaised, CanonPolicyDeclared
from vsmesh.events.schemas.ops import OpsInventoryRegistered
from vsmesh.events.schemas.risk import RiskSurfaced
from vsmesh.events.schemas.sec import (
    SecExceptionExpired,
    SecFindingReported,
    SecRotationPolicyAdopted,
    SecSecretTracked,
)
from vsmesh.hubs.sec import manifest
from vsmesh.projectors.couplings.coupling import Context, Coupling, Emit

EXPIRED_ALERT = "sec-exception-expired-to-alert"
EXPIRED_ESCALATION = "sec-exception-expired-to-canon-escalation"
CRITICAL_RISK = "sec-critical-finding-to-ops-risk"
SECRET_SETS = "ops-secret-set-to-sec"
ROTATION_POLICY = "canon-rotation-policy-to-sec"
ROTATION_VALUE = "max_secret_age_days"  # the canon policy value naming how old a secret may get


def expired_to_alert(event: SecExceptionExpired) -> list[Emit]:
    d = event.data
    data = {
        "title": f"security exception {d.exception_id} expired on {d.expires_on}",
        "severity": "high",
        "description": f"owner {d.owner or 'unknown'}: renew it with a new expiry, or fix what it accepted",
    }
    return [Emit("alert-raised", manifest.SLUG, f"exception/{d.exception_id}", data)]


def expired_to_escalation(event: SecExceptionExpired) -> list[Emit]:
    d = event.data
    data = {
        "title": f"security exception {d.exception_id} expired on {d.expires_on}",
        "severity": "high",
        "from_hub": manifest.SLUG,
        "reason": f"an accepted risk (owner {d.owner or 'unknown'}) is past its expiry and is no longer accepted",
        "cause_event_id": event.id,
    }
    return [Emit("canon-escalation-raised", "canon-hub", f"exception/{d.exception_id}", data)]


async def is_production(event: SecFindingReported, ctx: Context) -> bool:
    """The importer said so, or ops-hub's inventory does: a `production` attribute or an environment whose
    name says prod."""
    if event.data.production:
        return True
    answer: dict[str, Any] = await ctx.ask("ops-hub", "get_services", {"name": event.data.service})
    for s in answer.get("services", []):
        attrs = s.get("attributes") or {}
        if attrs.get("production") is True or "prod" in str(s.get("environment") or ""):
            return True
    return False


async def critical_to_ops_risk(event: SecFindingReported, ctx: Context) -> list[Emit]:
    d = event.data
    if d.severity != "critical" or not await is_production(event, ctx):
        return []
    what = f"{d.rule} in {d.package} {d.installed_version or ''}".strip() if d.package else d.rule
    data = {
        "title": f"critical finding on production: {what}",
        "severity": "critical",
        "likelihood": "possible",
        "category": "sec-critical-finding",
        "description": (d.title or what) + (f"; fixed in {d.fixed_version}" if d.fixed_version else ""),
    }
    return [Emit("risk-surfaced", "ops-hub", f"service/{d.service}", data)]


def secret_set_to_sec(event: OpsInventoryRegistered) -> list[Emit]:
    d = event.data
    if d.kind != "secret-set":
        return []
    data = {k: v for k, v in {"secret_set": d.name, "owner": d.owner, "environment": d.environment}.items() if v}
    return [Emit("sec-secret-tracked", manifest.SLUG, f"secret-set/{d.name}", data)]


def rotation_policy_to_sec(event: CanonPolicyDeclared) -> list[Emit]:
    values = event.data.metadata.get("values")
    days = values.get(ROTATION_VALUE) if isinstance(values, dict) else None
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        return []
    data = {"policy": event.data.policy, "max_age_days": days, "version": event.data.version,
            "policy_event_id": event.id}  # fmt: skip
    return [Emit("sec-rotation-policy-adopted", manifest.SLUG, f"policy/{event.data.policy}", data)]


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=EXPIRED_ALERT,
            source_hub=manifest.SLUG,
            target_hub=manifest.SLUG,
            reacts_to=(SecExceptionExpired,),
            react=expired_to_alert,
            emits=(AlertRaised,),
            description="a sec exception past its expiry → an alert on sec-hub",
        ),
        Coupling(
            name=EXPIRED_ESCALATION,
            source_hub=manifest.SLUG,
            target_hub="canon-hub",
            reacts_to=(SecExceptionExpired,),
            react=expired_to_escalation,
            emits=(CanonEscalationRaised,),
            description="a sec exception past its expiry → canon escalation",
        ),
        Coupling(
            name=CRITICAL_RISK,
            source_hub=manifest.SLUG,
            target_hub="ops-hub",
            reacts_to=(SecFindingReported,),
            react=critical_to_ops_risk,
            emits=(RiskSurfaced,),
            description="a critical finding on a production service → ops risk on that service",
        ),
        Coupling(
            name=SECRET_SETS,
            source_hub="ops-hub",
            target_hub=manifest.SLUG,
            reacts_to=(OpsInventoryRegistered,),
            react=secret_set_to_sec,
            emits=(SecSecretTracked,),
            description="an ops secret-set → tracked for rotation by sec",
        ),
        Coupling(
            name=ROTATION_POLICY,
            source_hub="canon-hub",
            target_hub=manifest.SLUG,
            reacts_to=(CanonPolicyDeclared,),
            react=rotation_policy_to_sec,
            emits=(SecRotationPolicyAdopted,),
            description=f"a canon policy with values.{ROTATION_VALUE} → sec's rotation limit",
        ),
    ]
