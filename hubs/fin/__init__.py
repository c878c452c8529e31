"""fin-hub: the resource hub (S3) — budgets, commitments, costs, token spend, burn rate and runway."""
