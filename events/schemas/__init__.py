"""One module per event family; each defines one tagged Struct per event type (shared types: `common`)."""

from vsmesh.events.schemas import alert, canon, core, dev, fin, hub, legal, notification, ops, risk, rollup, sec

FAMILIES = (hub, ops, risk, alert, dev, fin, canon, core, sec, legal, rollup, notification)

__all__ = ["FAMILIES", "alert", "canon", "core", "dev", "fin", "hub", "legal", "notification", "ops", "risk", "rollup", "sec"]
