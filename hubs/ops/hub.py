"""ops-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="ops-hub",
    manifest="vsmesh.hubs.ops.manifest",
    projection="vsmesh.hubs.ops.projector:projection",
    operations="vsmesh.hubs.ops.contract:operations",
    couplings="vsmesh.hubs.ops.couplings:couplings",
    sample="vsmesh.hubs.ops.sample:events",
    jobs="vsmesh.hubs.ops.rollup:JOBS",
    sample_rank=10,
    cli="vsmesh.hubs.ops.cli:ops_app",
    cli_name="ops",
)
