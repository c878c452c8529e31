"""What enters from the organisation's own tools: its Git repository reconciled (gitops), inbound webhooks
(hooks), timed pullers (pullers)."""
