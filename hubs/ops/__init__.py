"""ops-hub: the VSM Operations (S1) hub — what runs where, and the evidence that it is healthy."""

from vsmesh.hubs.ops import contract, couplings, manifest, projector, tables
from vsmesh.hubs.ops.projector import projection

__all__ = ["contract", "couplings", "manifest", "projection", "projector", "tables"]
