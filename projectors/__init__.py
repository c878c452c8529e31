"""The projector engine: hubs write handlers; the engine owns consuming, batching, transactions, positions."""

from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Projection

__all__ = ["Changes", "Projection"]
