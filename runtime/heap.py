"""The heap of a long-running process, kept out of the cyclic collector's way once it has started.

Why: `vsmesh up` holds ~218k objects once started (modules, classes, pydantic and SQLAlchemy models, compiled
statements), nearly all of them for its whole life. CPython's full collection walks every one: 114-173 ms of
CPU each time in `vsmesh up --hub ops-hub`, during which no loop of the process runs, the live projector's
included (bench/latency.py records them; docs/performance.md §Live path). Frozen, they are left out of every
walk, and a full collection walks only what was made since.
"""

from __future__ import annotations

import gc


def freeze_started_heap() -> int:
    """Collect what start-up left behind, then move every object alive now out of the collector's walks for
    good (a frozen object is never collected: what start-up made lives as long as the process anyway).
    Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
