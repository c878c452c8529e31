"""canon-hub: the policy hub (S5) — policies in force, mandates, and the escalations it decides."""

from vsmesh.hubs.canon import contract, couplings, manifest, projector, tables
from vsmesh.hubs.canon.projector import projection

__all__ = ["contract", "couplings", "manifest", "projection", "projector", "tables"]
