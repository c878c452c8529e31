"""fin-hub: the resource hub (S3) — budgets, commitments, costs, token spend, burn rate and runway."""

from vsmesh.hubs.fin import contract, couplings, manifest, projector, tables
from vsmesh.hubs.fin.projector import projection

__all__ = ["contract", "couplings", "manifest", "projection", "projector", "tables"]
