"""tally-hub's identity and the event types it accepts."""

SLUG = "tally-hub"
NAME = "Tally hub"
VSM_FUNCTION = "TALLY"
VSM_SYSTEM = "S1"
EVENT_TYPES = ("tally-counted", "tally-ticked")
