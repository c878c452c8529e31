"""One thing a repository file declares, as the event that makes a hub hold it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Declared:
    """One thing a file declares: the event that makes a hub hold it, before the sync names and dates it."""

    kind: str  # policy | mandate | budget | entity
    key: str  # what it is within its kind: a policy's slug, a mandate's file, domain/period/currency, an entity
    path: str
    blob: str
    hub: str
    type: str
    subject: str
    data: dict[str, Any]
    line: int = 1
