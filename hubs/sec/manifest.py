"""sec-hub's identity and the event types it accepts."""

SLUG = "sec-hub"
NAME = "Security hub"
VSM_FUNCTION = "SEC"
VSM_SYSTEM = "S3*"
EVENT_TYPES = (
    "sec-finding-reported",
    "sec-finding-fixed",
    "sec-exception-granted",
    "sec-exception-expired",
    "sec-secret-tracked",
    "sec-secret-rotated",
    "sec-rotation-policy-adopted",
    "alert-raised",  # an expired exception's alert, by the sec-exception-expired-to-alert coupling
    "risk-surfaced",  # an overdue rotation, by sec-hub's expiry watch
    "risk-mitigated",  # that risk once the set is rotated, by the same watch
)
# What annotations on this hub's entities may be about (`annotate`; annotation-added of another is refused).
ANNOTATION_CATEGORIES = (
    "sec-false-positive",
    "sec-compensating-control",
    "sec-exposure-note",
)
