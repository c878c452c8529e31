"""aud-hub's identity and the event types it accepts."""

SLUG = "aud-hub"
NAME = "Audit hub"
VSM_FUNCTION = "AUD"
VSM_SYSTEM = "S3*"
EVENT_TYPES = ("aud-finding-raised", "aud-finding-resolved")
