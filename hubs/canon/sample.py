"""canon-hub's demo picture: the standards in force, the three bootstrap roles (one delegated to the demo's
agent, with an approval before large spend and a call cap), an open question."""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent, demo_id

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
        # What the scheduler inside `vsmesh up` checks, and when (hubs/canon/values.py): values, not code.
        _policy("spending", "Spending thresholds", "0.2", "canon/constitution/bootstrap-protocol_v0.1.md",
                scope="fin", supersedes="0.1",
                statement="alert at 90 % of a budget; project the runway daily and escalate below six months; "
                          "escalate an agent spending more than EUR 50 of tokens in a month",
                metadata={"values": {"budget_alert_pct": 90, "runway_alert_months": 6, "runway_check_every": "1d",
                                     "agent_spend_threshold": {"amount": "50.00", "currency": "EUR"},
                                     "agent_spend_period": "month"}}),
        _policy("escalation-slas", "Escalation SLAs per horizon", "0.1",
                "canon/constitution/bootstrap-protocol_v0.1.md", scope="mesh",
                statement="an escalation unanswered for 4 h (operational), 3 days (tactical) or 2 weeks (strategic) "
                          "is raised again, and again after each further period",
                metadata={"values": {"escalation_sla": {"operational": "4h", "tactical": "3d", "strategic": "14d"}}}),
        # Who hears of what (notify/): everything high or critical, to an inbox in the mesh's own data dir, so a
        # fresh `make run` shows a delivery with nothing outside the machine (`vsmesh notify deliveries`).
        _policy("notifications", "Who hears of what", "0.1", "canon/constitution/bootstrap-protocol_v0.1.md",
                scope="mesh", statement="every event of severity high or above reaches the operators' inbox",
                metadata={"values": {
                    "notify_receivers": {"operators-inbox": {"kind": "file", "path": "notifications.jsonl"}},
                    "notify_routes": [{"name": "high-and-above", "match": {"severity": "high"},
                                       "receivers": ["operators-inbox"], "group_wait": "0s"}]}}),
        # Who may decide what about canon itself is never handed down: a delegated mandate grants none of it.
        _policy("delegation", "Delegation", "0.1", "canon/constitution/bootstrap-protocol_v0.1.md", scope="mesh",
                statement="a delegated mandate grants at most its delegator's scope; canon's own decisions "
                          "(revoking mandates, approving held calls) are not delegable",
                metadata={"values": {"non_delegable": ["canon-hub:write"]}}),
        # Scopes name hubs as the gateway reads them (`HUB[:OPERATIONS]`): what each grants is what it says.
        _mandate("Constitutional Steward", "founder", "*"),
        _mandate("Financial Allocator", "founder", "fin-hub"),
        # The seed's "no agent spends more than EUR 500 without a person": held before the spend, not after it.
        _mandate("Technical Operator", "custodian-agent",
                 "ops-hub, dev-hub:read, fin-hub:read, fin-hub:record_cost, fin-hub:record_token_spend, "
                 "canon-hub:get_mandates",
                 approve=["fin-hub:record_cost amount > 500 EUR"], caps={"calls_per_minute": 60},
                 delegated_from=demo_id("canon/mandate/Constitutional Steward/founder")),
        DemoEvent("canon/escalation/first-customer", "canon-escalation-raised", HUB, "topic/railiance-as-a-service",
                  {"title": "Runway needs a first paying customer", "severity": "medium", "from_hub": "fin-hub",
                   "reason": "commitments exceed revenue until railiance-as-a-service sells"}),
    ]  # fmt: skip
