"""dev-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="dev-hub",
    manifest="vsmesh.hubs.dev.manifest",
    projection="vsmesh.hubs.dev.projector:projection",
    operations="vsmesh.hubs.dev.contract:operations",
    couplings="vsmesh.hubs.dev.couplings:couplings",
    sample="vsmesh.hubs.dev.sample:events",
    sample_rank=20,
)
