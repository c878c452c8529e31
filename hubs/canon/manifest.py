"""canon-hub's identity and the event types it accepts."""

SLUG = "canon-hub"
NAME = "Canon hub"
VSM_FUNCTION = "CANON"
VSM_SYSTEM = "S5"
EVENT_TYPES = (
    "canon-policy-declared",
    "canon-mandate-granted",
    "canon-escalation-raised",
    "canon-escalation-resolved",
    "canon-mandate-revoked",
    "canon-escalation-overdue",  # the scheduler's re-escalation of one unanswered past its SLA
    "canon-call-refused",  # the gateway's refusals: attempts, beside the mandates (refused_calls)
    # The notifier's record (notify/): who was told what, what a silence held back, and people's silences.
    "notification-delivered",
    "notification-failed",
    "notification-suppressed",
    "notification-silence-set",
    "notification-silence-expired",
    "canon-approval-requested",  # a call held by a mandate's approve condition (the gateway)
    "canon-approval-decided",  # a person's approval or denial (approve_call, deny_call)
    "canon-approval-executed",  # the gateway ran the approved call once, or says why not
)
# What annotations on this hub's entities may be about (`annotate`; annotation-added of another is refused).
ANNOTATION_CATEGORIES = (
    "canon-policy-gap",
    "canon-mandate-question",
    "canon-rationale",
)
