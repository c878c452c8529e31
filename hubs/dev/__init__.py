"""dev-hub (being built)."""
