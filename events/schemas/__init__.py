"""The event families more than one hub reads (a coupling of another hub folds them, or every hub does): one module
per family, each one tagged Struct per event type (shared types: `common`). A family only its own hub reads lives
in that hub's package and joins the registry when the hub is found (hubs/hub.py `schemas`)."""

from vsmesh.events.schemas import alert, canon, core, dev, fin, hub, notification, ops, risk, rollup, sec

FAMILIES = (hub, ops, risk, alert, dev, fin, canon, core, sec, rollup, notification)

__all__ = ["FAMILIES", "alert", "canon", "core", "dev", "fin", "hub", "notification", "ops", "risk", "rollup", "sec"]
