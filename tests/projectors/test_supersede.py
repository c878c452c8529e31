"""A rebuild batch that sets superseded events aside folds exactly what a fold of every event folds.

ops-hub declares its evidence and drift types superseded (projectors/engine/supersede.py): within a batch only
the newest event of a subject is decoded and folded, and the older ones only for a recent-events row that
could be among the newest. Whatever the batch holds (events out of time order, events without a subject,
messages that are no valid event, reverted ids, handlers that fail), its rows must be the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.projectors.sample import read_all, sample_projection
from vsmesh.errors import ConfigError
from vsmesh.events.codec import encode_event
from vsmesh.events.schemas.ops import OpsHealthChecked
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.hubs.ops.projector import superseded
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT
from vsmesh.projectors.engine.batches import fold
from vsmesh.projectors.engine.projection import Superseded
from vsmesh.projectors.engine.supersede import plan

BASE = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
SERVICES = [f"service/s{i}" for i in range(6)]


def history(publisher, hub: str, count: int, rnd: random.Random) -> list:
    """Evidence over a few services with times out of log order, some without a subject, some inventory."""
    events = []
    for i in range(count):
        subject = rnd.choice(SERVICES)
        kind = rnd.random()
        if kind < 0.6:
            status = rnd.choice(["green", "amber", "red"])
            built = publisher.build("ops-health-checked", hub=hub, subject=subject if i % 23 else None,
                                    data={"status": status, "observations": {"i": i}})  # fmt: skip
        elif kind < 0.75:
            built = publisher.build("ops-endpoint-verified", hub=hub, subject=f"endpoint/{subject[8:]}",
                                    data={"endpoint": f"https://{subject[8:]}", "expected_status": 200,
                                          "observed_status": rnd.choice([200, 500])})  # fmt: skip
        elif kind < 0.9:
            built = publisher.build("ops-drift-detected", hub=hub, subject=subject,
                                    data={"summary": f"drift {i}", "desired": i, "actual": i + 1})  # fmt: skip
        else:
            name = subject.split("/")[1]
            built = publisher.build("ops-inventory-registered", hub=hub, subject=subject,
                                    data={"kind": "service", "name": name, "attributes": {f"a{i}": i}})  # fmt: skip
        # Times drift back and forth, so older events of a subject can be among the batch's newest.
        events.append(msgspec.structs.replace(built, time=BASE + dt.timedelta(seconds=rnd.randint(0, 3 * count))))
    return events


def table_rows(changes) -> dict[str, list[bytes]]:
    """Each table's rows, sorted, in a comparable form."""
    out: dict[str, list] = {}
    changes.only(lambda table, row: out.setdefault(table.name, []).append(msgspec.json.encode(row, order="sorted")))
    return {name: sorted(rows) for name, rows in out.items()}


async def test_setting_superseded_events_aside_folds_the_same_rows(bus):
    js, publisher = bus
    hub = f"sup-{uuid.uuid4().hex[:8]}"
    await publisher.publish_many(history(publisher, hub, 3 * RECENT_EVENTS_KEPT, random.Random(7)))
    # Messages that are no valid event, on subjects of superseded types: never the one standing for its subject.
    forged = history(publisher, "ops-hub", 1, random.Random(1))[0]
    await js.publish(f"operational.{hub}.ops-health-checked.service:s1", b"{not json")
    await js.publish(f"operational.{hub}.ops-health-checked.service:s2", encode_event(forged))
    await publisher.publish_many(history(publisher, hub, RECENT_EVENTS_KEPT, random.Random(8)))
    msgs = await read_all(js, "OPERATIONAL", f"operational.{hub}.>")
    base = ops_projection(hub)
    assert base.superseded == superseded()
    # The batch of every message sets most aside, or this test would prove nothing.
    assert len(plan(base, msgs, 0, frozenset(), {}).aside) > len(msgs) // 2
    ids = [m.headers["Nats-Msg-Id"] for m in msgs if m.headers]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 2**32), share=st.floats(0.2, 1.0), cut=st.integers(0, 50))
    def same_rows(seed: int, share: float, cut: int) -> None:
        rnd = random.Random(seed)  # which messages, reverts and failures: one draw, not hundreds
        batch = [m for m in msgs if rnd.random() < share]  # a batch is any ascending run of stored messages
        after = batch[cut].metadata.sequence.stream if batch and cut < len(batch) // 4 else 0
        reverted = frozenset(rnd.sample(ids, 20))
        poison = frozenset(rnd.sample(ids, 10))
        fails = base.handlers[OpsHealthChecked]

        def failing(event, at, changes):  # a handler failing on some events: they go to the quarantine
            if event.id in poison:
                raise ValueError("poisoned")
            fails(event, at, changes)

        projection = dataclasses.replace(base, handlers={**base.handlers, OpsHealthChecked: failing})
        every = fold(projection, "OPERATIONAL", batch, after, reverted)
        newest = fold(projection, "OPERATIONAL", batch, after, reverted, supersede=True)
        assert table_rows(newest.changes) == table_rows(every.changes)
        assert (newest.last, newest.messages, newest.reverts) == (every.last, every.messages, every.reverts)

    same_rows()


async def test_a_type_declared_superseded_whose_handler_inserts_rows_is_refused(bus):
    js, publisher = bus
    projection = sample_projection()
    events = [publisher.build("ops-health-checked", hub=projection.hub, subject="service/a", data={"status": s})
              for s in ("green", "red")]  # fmt: skip
    await publisher.publish_many(events)
    msgs = await read_all(js, "OPERATIONAL", f"operational.{projection.hub}.>")
    # The sample's health handler appends a ledger row per event: no later event overwrites it.
    ledger = projection.metadata.tables["ledger"]
    wrong = dataclasses.replace(projection, superseded=Superseded(frozenset({"ops-health-checked"}), tail=ledger))
    with pytest.raises(ConfigError, match="declares ops-health-checked superseded, but its handler writes rows"):
        fold(wrong, "OPERATIONAL", msgs, 0, supersede=True)
