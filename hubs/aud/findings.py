"""What a check reports: the findings it made, what it read, and which findings it was in a position to make.

A finding that is open and that its check, having looked where it could have been made, did not make again is
resolved; a finding outside what the check looked at this time (an agent event older than the period read)
stays as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec


@dataclass(frozen=True)
class Finding:
    finding_id: str  # `<check>/<what it is about>`, e.g. rebuild/ops-hub/inventory
    check: str
    title: str
    severity: str = "medium"
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Of the evidence, so a finding seen again unchanged is not raised again."""
        return hashlib.sha256(msgspec.json.encode(self.evidence, order="sorted")).hexdigest()[:16]


@dataclass(frozen=True)
class CheckResult:
    check: str
    read: str  # what the check read, in words: the report names it
    findings: list[Finding] = field(default_factory=list)
    # Which finding ids this run could have made (None: every one of its check).
    covers: Callable[[str], bool] | None = None
    error: str | None = None  # the check could not run: it resolves nothing

    @property
    def passed(self) -> bool:
        return self.error is None and not self.findings

    def looked_at(self, finding_id: str) -> bool:
        if self.error is not None or not finding_id.startswith(f"{self.check}/"):
            return False
        return self.covers is None or self.covers(finding_id)
