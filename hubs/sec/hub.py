"""sec-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.sec",
    "sec-hub",
    jobs="vsmesh.hubs.sec.jobs:JOBS",
    sample_rank=50,
    cli="vsmesh.hubs.sec.cli:sec_app",
    cli_name="sec",
)
