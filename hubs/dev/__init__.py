"""dev-hub: the development hub (S3) — repos, deployments, blockers and the decisions behind them."""

from vsmesh.hubs.dev import contract, manifest, projector, tables
from vsmesh.hubs.dev.projector import projection

__all__ = ["contract", "manifest", "projection", "projector", "tables"]
