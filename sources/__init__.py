"""What enters from the organisation's own tools: the Git repository reconciled (gitops), inbound webhooks (hooks), timed pullers (pullers)."""
