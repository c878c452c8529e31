"""ops-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.ops",
    "ops-hub",
    pages="vsmesh.hubs.ops.pages:PAGES",
    jobs="vsmesh.hubs.ops.rollup:JOBS",
    sample_rank=10,
    cli="vsmesh.hubs.ops.cli:ops_app",
    cli_name="ops",
)
