"""fin-hub's demo picture: a bootstrapping custodian paying for hosting and model tokens. Its budgets come from the
example organisation repository (examples/org-repo/fin/budgets/), which the demo syncs."""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent

HUB = "fin-hub"


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def _commitment(name: str, kind: str, amount: str, cadence: str, domain: str, counterparty: str) -> DemoEvent:
    data = {"kind": kind, "amount": _eur(amount), "cadence": cadence, "domain": domain,
            "counterparty": counterparty, "starts_on": "2026-01-01"}  # fmt: skip
    return DemoEvent(f"fin/commitment/{name}", "fin-commitment-recorded", HUB, f"domain/{domain}", data)


def _cost(month: str, amount: str, vendor: str, domain: str, service: str, category: str) -> DemoEvent:
    data = {"amount": _eur(amount), "incurred_on": f"{month}-05", "vendor": vendor, "domain": domain,
            "service": service, "category": category}  # fmt: skip
    return DemoEvent(f"fin/cost/{month}/{vendor}/{service}", "fin-cost-recorded", HUB, f"service/{service}", data)


def _tokens(month: str, amount: str, tokens_in: int, tokens_out: int) -> DemoEvent:
    data = {"provider": "anthropic", "model": "claude-sonnet-4-6", "tokens_in": tokens_in, "tokens_out": tokens_out,
            "cost": _eur(amount), "domain": "custodian", "session_id": f"custodian-{month}",
            "metadata": {"incurred_on": f"{month}-28"}}  # fmt: skip
    # The custodian agent's own spend: canon's agent_spend_threshold judges it per agent and month.
    key = f"fin/tokens/{month}"
    return DemoEvent(key, "fin-token-spend-recorded", HUB, "domain/custodian", data, "custodian-agent", "agent")


def events() -> list[DemoEvent]:
    """fin-hub's demo events, in publishing order: money in, promises, spend."""
    return [
        DemoEvent("fin/balance/2026-11-01", "fin-balance-recorded", HUB, "account/operating",
                  {"balance": _eur("48000.00"), "account": "operating", "as_of": "2026-11-01"}),
        _commitment("founder-salary", "salary", "4000.00", "monthly", "organisation", "Constitutional Steward"),
        _commitment("hosteurope-railiance01", "subscription", "89.90", "monthly", "railiance-infra", "HostEurope"),
        _commitment("claude-max", "subscription", "180.00", "monthly", "custodian", "Anthropic"),
        _commitment("k3s-support", "contract", "1200.00", "quarterly", "railiance-infra", "k3s support partner"),
        _cost("2026-09", "250.00", "hetzner", "railiance", "coulombcore-k8s", "cloud"),
        _tokens("2026-09", "60.40", 9_100_000, 1_400_000),
        _cost("2026-10", "240.00", "hetzner", "railiance", "coulombcore-k8s", "cloud"),
        _tokens("2026-10", "55.10", 8_300_000, 1_250_000),
        _cost("2026-11", "190.00", "hetzner", "railiance", "coulombcore-k8s", "cloud"),
        _tokens("2026-11", "30.50", 4_600_000, 700_000),
    ]  # fmt: skip
