"""What a hub declares to the engine: its streams, its tables and one handler per event type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa

from vsmesh.events.envelope import Event
from vsmesh.projectors.changes import Changes
from vsmesh.projectors.checkpoint import positions_table
from vsmesh.projectors.reverts import reverted_table


class Applied(NamedTuple):
    """Where an event sits in the log, as handlers see it (a tuple: one is made per event)."""

    stream: str
    sequence: int


Handler = Callable[[Event, Applied, Changes], None]


@dataclass
class Projection:
    """A hub's read model: pure handlers folding events into `Changes`; the engine does the I/O."""

    hub: str
    streams: Mapping[str, str]  # stream name -> filter subject
    metadata: sa.MetaData
    handlers: Mapping[str, Handler]
    after_batch: Callable[[], list[sa.Executable]] = field(default=lambda: [])
    # Runs on a batch's folded changes before they are written, e.g. to drop rows after_batch would delete.
    before_write: Callable[[Changes], None] | None = None

    def __post_init__(self) -> None:
        self.positions = positions_table(self.metadata)
        self.reverted = reverted_table(self.metadata)  # the hub's reverts (projectors/reverts.py)

    @property
    def schema(self) -> str:
        return schema_name(self.hub)

    def handler_for(self, event_type: str) -> Handler | None:
        return self.handlers.get(event_type)


def schema_name(hub: str) -> str:
    """A hub's PostgreSQL schema: its slug with `-` as `_`."""
    return hub.replace("-", "_")
