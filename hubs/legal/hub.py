"""legal-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.legal",
    "legal-hub",
    schemas=("vsmesh.hubs.legal.events",),
    sample_rank=60,
    cli="vsmesh.hubs.legal.cli:legal_app",
    cli_name="legal",
)
