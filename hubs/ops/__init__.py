"""ops-hub: the VSM Operations (S1) hub — what runs where, and the evidence that it is healthy."""

from vsmesh.hubs.ops import contract, manifest, projector, tables
from vsmesh.hubs.ops.projector import projection

__all__ = ["contract", "manifest", "projection", "projector", "tables"]
