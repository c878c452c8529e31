"""What a running projector tells about itself: its status line, `vsmesh status`, /metrics and live pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class ProjectorStats:
    """What `vsmesh up` shows on its status line and publishes for `vsmesh status`."""

    hub: str
    applied: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    partition: str = ""  # "p0", "p1" … for one partition of a partitioned hub (projectors/engine/partitions.py)
    last_error: str | None = None
    events_per_s: float = 0.0
    last_snapshot: str | None = None
    # Told after every applied batch (the gateway's live pages follow it; runtime/supervisor.py wires it).
    on_applied: Callable[[ProjectorStats], Awaitable[None]] | None = field(default=None, repr=False)
    # Told each applied batch's size, start (perf_counter) and seconds (the stall record, runtime/stalls.py, when on).
    on_batch: Callable[[str, int, float, float], None] | None = field(default=None, repr=False)
    # The subjects of the batch just applied, when few (a live page then re-reads only their entities).
    batch_subjects: list[str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The projector's name in status and metrics: the hub, or `hub p0` for one of its partitions."""
        return f"{self.hub} {self.partition}" if self.partition else self.hub
