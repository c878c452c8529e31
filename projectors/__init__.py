"""The projector engine: hubs write handlers; the engine owns consuming, batching, transactions, positions."""

from vsmesh.projectors.changes import Changes
from vsmesh.projectors.projection import Projection

__all__ = ["Changes", "Projection"]
