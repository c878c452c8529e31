"""What one run of a probe saw: values for its conditions' placeholders, an error, and details for its event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Observation:
    """`values` are keyed by placeholder (`STATUS`, `CONNECTED` …); `error` says why nothing (or less) was seen.

    A timeout or a refused connection is an observation, not an exception: its conditions fail and say why.
    """

    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # kind-specific facts for the event (not conditions)


def failed(error: str, **values: Any) -> Observation:
    """Nothing (or only `values`) observed, and why."""
    return Observation(values={"CONNECTED": False, **values}, error=error)
