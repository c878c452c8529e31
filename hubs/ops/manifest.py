"""ops-hub's identity and the event types it accepts (the seed 002 vocabulary grows here)."""

SLUG = "ops-hub"
NAME = "Operations hub"
VSM_FUNCTION = "OPS"
VSM_SYSTEM = "S1"
EVENT_TYPES = ("ops-inventory-registered", "ops-health-checked", "alert-raised")
