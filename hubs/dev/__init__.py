"""dev-hub: the development hub (S3) — repos, deployments, blockers and the decisions behind them."""
