"""dev-hub's identity and the event types it accepts."""

SLUG = "dev-hub"
NAME = "Development hub"
VSM_FUNCTION = "DEV"
VSM_SYSTEM = "S3"
EVENT_TYPES = (
    "dev-repo-registered",
    "dev-deployment-started",
    "dev-deployment-completed",
    "dev-deployment-failed",
    "dev-deployment-rolled-back",
    "dev-blocker-raised",
    "dev-blocker-cleared",
    "dev-decision-recorded",
    "dev-repo-pushed",
    "dev-release-published",
    "message-sent",  # core: e.g. resource pressure from the fin-budget-alert-to-dev-pressure coupling
)
# What annotations on this hub's entities may be about (`annotate`; annotation-added of another is refused).
ANNOTATION_CATEGORIES = (
    "dev-tech-debt",
    "dev-test-gap",
    "dev-review-needed",
    "dev-dependency-risk",
    "dev-release-note",
)
