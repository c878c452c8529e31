"""tally-hub's declaration: every part of it that vsmesh finds through the entry point in pyproject.toml."""

from vsmesh.hubs.hub import Hub

HUB = Hub(
    slug="tally-hub",
    manifest="tally_hub.manifest",
    schemas=("tally_hub.events",),
    projection="tally_hub.projector:projection",
    reads="tally_hub.reads:read_operations",
    writes="tally_hub.writes:write_operations",
    jobs="tally_hub.jobs:JOBS",
    cli="tally_hub.cli:tally_app",
    cli_name="tally",
    sample="tally_hub.sample:events",
)
