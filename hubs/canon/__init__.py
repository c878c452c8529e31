"""canon-hub: the policy hub (S5) — policies in force, mandates, and the escalations it decides."""
