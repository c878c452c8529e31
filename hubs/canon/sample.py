"""canon-hub's demo picture (seed 001): the standards in force, the three bootstrap roles, an open question."""

from __future__ import annotations

from vsmesh.hubs.demo import DemoEvent, demo_id

HUB = "canon-hub"


def _policy(slug: str, title: str, version: str, document: str, **extra: object) -> DemoEvent:
    data = {"policy": slug, "title": title, "version": version, "document": document, **extra}
    return DemoEvent(f"canon/policy/{slug}/{version}", "canon-policy-declared", HUB, f"policy/{slug}", data)


def _mandate(role: str, holder: str, scope: str, **extra: object) -> DemoEvent:
    data = {"role": role, "holder": holder, "scope": scope, **extra}
    return DemoEvent(f"canon/mandate/{role}/{holder}", "canon-mandate-granted", HUB, f"role/{role}", data)


def events() -> list[DemoEvent]:
    """canon-hub's demo events, in publishing order."""
    return [
        _policy("federated-organization-standard", "Federated Organization Standard", "1.0",
                "canon/standards/federated-organization-standard_v1.0.md", scope="mesh"),
        _policy("credential-management", "Credential management", "0.1",
                "canon/standards/credential-management_v0.1.md", scope="ops-production",
                statement="one root of trust; every credential derives from it"),
        _policy("spending", "Spending thresholds", "0.1", "canon/constitution/bootstrap-protocol_v0.1.md",
                scope="fin", statement="alert at 90 % of a budget; escalate below six months of runway",
                metadata={"values": {"budget_alert_pct": 90, "runway_alert_months": 6}}),
        _mandate("Constitutional Steward", "founder", "mesh"),
        _mandate("Financial Allocator", "founder", "fin"),
        _mandate("Technical Operator", "custodian-agent", "ops", constraints=["no production deletes"],
                 metadata={"delegated_from": demo_id("canon/mandate/Constitutional Steward/founder")}),
        DemoEvent("canon/escalation/first-customer", "canon-escalation-raised", HUB, "topic/railiance-as-a-service",
                  {"title": "Runway needs a first paying customer", "severity": "medium", "from_hub": "fin-hub",
                   "reason": "commitments exceed revenue until railiance-as-a-service sells"}),
    ]  # fmt: skip
