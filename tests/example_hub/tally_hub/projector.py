"""tally-hub's read model: each count as a row (the contract sums them), and the ticks its job published."""

from __future__ import annotations

import sqlalchemy as sa

from tally_hub import manifest
from tally_hub.events import TallyCounted, TallyTicked
from vsmesh.hubs.core import add_core_tables, hub_projection
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Projection

metadata = sa.MetaData()
add_core_tables(metadata)
counts = sa.Table(
    "counts",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("counter", sa.Text, nullable=False),
    sa.Column("by", sa.BigInteger, nullable=False),
)
ticks = sa.Table("ticks", metadata, sa.Column("slot", sa.Text, primary_key=True))


def on_counted(event: TallyCounted, at: Applied, changes: Changes) -> None:
    changes.upsert(counts, {"event_id": event.id, "counter": event.data.counter, "by": event.data.by})


def on_ticked(event: TallyTicked, at: Applied, changes: Changes) -> None:
    changes.upsert(ticks, {"slot": event.data.slot})


def projection() -> Projection:
    handlers = {TallyCounted: on_counted, TallyTicked: on_ticked}
    return hub_projection(manifest.SLUG, metadata, handlers, manifest.EVENT_TYPES)
