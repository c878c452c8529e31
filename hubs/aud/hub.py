"""aud-hub's declaration: the parts `vsmesh` finds through its entry point (hubs/hub.py)."""

from vsmesh.hubs.hub import Hub

HUB = Hub.in_package(
    "vsmesh.hubs.aud",
    "aud-hub",
    schemas=("vsmesh.hubs.aud.events",),
    pages="vsmesh.hubs.aud.pages:PAGES",
    jobs="vsmesh.hubs.aud.jobs:JOBS",
    cli="vsmesh.hubs.aud.cli:audit_app",
    cli_name="audit",
    sample=None,
)
