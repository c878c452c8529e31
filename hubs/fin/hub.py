"""fin-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="fin-hub",
    manifest="vsmesh.hubs.fin.manifest",
    projection="vsmesh.hubs.fin.projector:projection",
    operations="vsmesh.hubs.fin.contract:operations",
    couplings="vsmesh.hubs.fin.couplings:couplings",
    sample="vsmesh.hubs.fin.sample:events",
    sample_rank=30,
    cli="vsmesh.hubs.fin.cli:fin_app",
    cli_name="fin",
)
