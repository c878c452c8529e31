"""legal-hub's demo picture: the register of a small German organisation with real gaps — a German host with
a DPA, an LLM API vendor in the US without one, a processing record for Gitea but none for State Hub."""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent

HUB = "legal-hub"


def _vendor(slug: str, **data: object) -> DemoEvent:
    return DemoEvent(f"legal/vendor/{slug}", "legal-vendor-recorded", HUB, f"vendor/{slug}", {"vendor": slug, **data})


def events() -> list[DemoEvent]:
    """legal-hub's demo events, in publishing order."""
    return [
        _vendor("hosteurope", name="HostEurope GmbH", service="virtual servers (railiance01, coulombcore)",
                purpose="hosting production services", data_categories=["account data", "repository content"],
                personal_data=True, location="DE", dpa_status="signed", dpa_signed_on="2025-03-01",
                review_by="2027-03-01", aliases=["HostEurope"]),
        _vendor("hetzner", name="Hetzner Online GmbH", service="cloud servers", purpose="Kubernetes capacity",
                data_categories=["service logs"], personal_data=False, location="DE", review_by="2027-01-31"),
        _vendor("anthropic", name="Anthropic PBC", service="Claude API", purpose="the custodian agent's model",
                data_categories=["prompts", "operational context"], personal_data=True, location="US",
                dpa_status="pending", review_by="2026-11-15", aliases=["Anthropic"]),
        DemoEvent("legal/processing/git-hosting", "legal-processing-recorded", HUB, "processing/git-hosting",
                  {"activity": "git-hosting", "purpose": "hosting source code, issues and contributor accounts",
                   "legal_basis": "contract", "data_subjects": ["contributors"],
                   "data_categories": ["name", "email", "commit metadata"], "recipients": ["hosteurope"],
                   "retention": "account lifetime plus 30 days", "toms": ["TLS", "nightly database dump"],
                   "services": ["gitea"]}),
        DemoEvent("legal/ai-system/custodian-agent", "legal-ai-system-registered", HUB, "ai-system/custodian-agent",
                  {"actor": "custodian-agent", "owner": "founder", "purpose": "operations custodian",
                   "risk_class": "minimal",
                   "human_oversight": "mandate-bounded; every event it publishes can be reverted by a person"}),
        # Which services handle personal data ops learns from the example repository's catalog (annotation
        # vsmesh.io/personal-data); legal notices through its coupling.
    ]  # fmt: skip
