"""fin-hub's identity and the event types it accepts."""

SLUG = "fin-hub"
NAME = "Finance hub"
VSM_FUNCTION = "FIN"
VSM_SYSTEM = "S3"
EVENT_TYPES = (
    "fin-budget-allocated",
    "fin-commitment-recorded",
    "fin-cost-recorded",
    "fin-cost-corrected",
    "fin-token-spend-recorded",
    "fin-balance-recorded",
    "fin-budget-alert-raised",
    "fin-runway-projected",
)
