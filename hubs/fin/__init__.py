"""fin-hub (being built)."""
