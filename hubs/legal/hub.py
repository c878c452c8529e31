"""legal-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="legal-hub",
    manifest="vsmesh.hubs.legal.manifest",
    projection="vsmesh.hubs.legal.projector:projection",
    operations="vsmesh.hubs.legal.contract:operations",
    couplings="vsmesh.hubs.legal.couplings:couplings",
    sample="vsmesh.hubs.legal.sample:events",
    sample_rank=60,
    cli="vsmesh.hubs.legal.cli:legal_app",
    cli_name="legal",
)
