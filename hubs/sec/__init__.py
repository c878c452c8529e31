"""sec-hub: the security hub (S3*) — findings from scanners and policy engines, the exception register with
expiry, and secrets hygiene against canon's rotation policy."""
