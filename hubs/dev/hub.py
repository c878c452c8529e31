"""dev-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.dev",
    "dev-hub",
    pages="vsmesh.hubs.dev.pages:PAGES",
    sample_rank=20,
)
