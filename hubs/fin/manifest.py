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
# What annotations on this hub's entities may be about (`annotate`; annotation-added of another is refused).
ANNOTATION_CATEGORIES = (
    "fin-cost-anomaly",
    "fin-forecast-assumption",
    "fin-vendor-review",
    "fin-attribution-gap",
)
