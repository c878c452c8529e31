"""sec-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="sec-hub",
    manifest="vsmesh.hubs.sec.manifest",
    projection="vsmesh.hubs.sec.projector:projection",
    operations="vsmesh.hubs.sec.contract:operations",
    couplings="vsmesh.hubs.sec.couplings:couplings",
    sample="vsmesh.hubs.sec.sample:events",
    jobs="vsmesh.hubs.sec.jobs:JOBS",
    sample_rank=50,
    cli="vsmesh.hubs.sec.cli:sec_app",
    cli_name="sec",
)
