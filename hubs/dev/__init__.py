"""dev-hub: the development hub (S3) — repos, deployments, blockers and the decisions behind them."""

from vsmesh.hubs.dev import contract, couplings, manifest, projector, tables
from vsmesh.hubs.dev.projector import projection

__all__ = ["contract", "couplings", "manifest", "projection", "projector", "tables"]
