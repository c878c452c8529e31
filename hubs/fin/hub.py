"""fin-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.fin",
    "fin-hub",
    pages="vsmesh.hubs.fin.pages:PAGES",
    sample_rank=30,
    cli="vsmesh.hubs.fin.cli:fin_app",
    cli_name="fin",
)
