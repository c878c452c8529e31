"""canon-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.canon",
    "canon-hub",
    pages="vsmesh.hubs.canon.pages:PAGES",
    jobs="vsmesh.hubs.canon.scheduled:JOBS",
    sample_rank=40,
)
