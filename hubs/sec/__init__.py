"""sec-hub: the security hub (S3*) — findings from scanners and policy engines, the exception register with
expiry, and secrets hygiene against canon's rotation policy."""

from vsmesh.hubs.sec import contract, couplings, manifest, projector, tables
from vsmesh.hubs.sec.projector import projection

__all__ = ["contract", "couplings", "manifest", "projection", "projector", "tables"]
