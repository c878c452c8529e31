"""Answers given again while they still hold: ops-hub's summary at 10,000 services costs ~0.1–0.25 s of
PostgreSQL (more beside a rebuild's COPY on 2 cores, bench/contract_under_load.py), but only changes when the
projector applies a batch, a rebuild swaps the schema, or evidence ages past a staleness threshold. The first
two move the read model's version (service_health.read_version, ~1 ms); the last is the answer's `until`."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

KEPT = 32  # answers kept (by database, schema and request), the least recently asked dropped first


@dataclass(frozen=True)
class _Kept:
    version: str
    now: dt.datetime
    until: dt.datetime | None  # None: nothing left to age
    answer: dict[str, Any]

    def holds(self, version: str, now: dt.datetime) -> bool:
        # Staleness only grows with the clock, so an answer holds from the moment it was judged at until the
        # first evidence crosses a threshold; an earlier clock is judged again.
        return version == self.version and self.now <= now and (self.until is None or now <= self.until)


class Answers:
    """The latest answer per key, with the version of the read model it was read at."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._answers: OrderedDict[Hashable, _Kept] = OrderedDict()

    def get(self, key: Hashable, version: str, now: dt.datetime) -> dict[str, Any] | None:
        found = self._answers.get(key)
        if found is None or not found.holds(version, now):
            return None
        self._answers.move_to_end(key)
        return _copy(found.answer)

    def put(
        self, key: Hashable, version: str, now: dt.datetime, until: dt.datetime | None, answer: dict[str, Any]
    ) -> None:
        """Keep `answer`, read after `version` was (so a batch applied meanwhile makes it miss, never wrong)."""
        self._answers[key] = _Kept(version, now, until, _copy(answer))
        self._answers.move_to_end(key)
        while len(self._answers) > self._kept:
            self._answers.popitem(last=False)


def _copy(answer: dict[str, Any]) -> dict[str, Any]:
    """Copies of the answer's dicts and lists of dicts: a caller may change what it was given."""
    return {k: _copy_value(v) for k, v in answer.items()}


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    return value
