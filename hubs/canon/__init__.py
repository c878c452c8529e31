"""canon-hub (being built)."""
