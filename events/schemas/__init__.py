"""One module per event family; each defines one tagged Struct per event type."""

from vsmesh.events.schemas import alert, ops

FAMILIES = (ops, alert)

__all__ = ["FAMILIES", "alert", "ops"]
