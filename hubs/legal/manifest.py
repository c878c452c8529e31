"""legal-hub's identity and the event types it accepts."""

SLUG = "legal-hub"
NAME = "Legal hub"
VSM_FUNCTION = "LEGAL"
VSM_SYSTEM = "S4"
EVENT_TYPES = (
    "legal-vendor-recorded",
    "legal-dpa-recorded",
    "legal-processing-recorded",
    "legal-ai-system-registered",
    "legal-agent-observed",  # by the agent-to-legal couplings
    "legal-service-noted",  # by the ops-service-to-legal coupling
    "legal-vendor-spend-seen",  # by the fin-vendor-to-legal coupling
    "risk-surfaced",  # a vendor not reviewed, by the fin-vendor-to-legal coupling
)
# What annotations on this hub's entities may be about (`annotate`; annotation-added of another is refused).
ANNOTATION_CATEGORIES = (
    "legal-contract-gap",
    "legal-data-transfer",
    "legal-review-note",
)
