"""canon-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="canon-hub",
    manifest="vsmesh.hubs.canon.manifest",
    projection="vsmesh.hubs.canon.projector:projection",
    operations="vsmesh.hubs.canon.contract:operations",
    couplings="vsmesh.hubs.canon.couplings:couplings",
    sample="vsmesh.hubs.canon.sample:events",
    jobs="vsmesh.hubs.canon.scheduled:JOBS",
    sample_rank=40,
)
