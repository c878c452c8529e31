"""Reverts scoped to the entities they touch: after each random revert of a random history, the hub's tables
equal a rebuild that skips the same events (seeded random histories of ops-hub's read model, under a hub
name of their own; real NATS and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from vsmesh.bus.reader import Start, StreamReader, count_pending
from vsmesh.events.envelope import Event
from vsmesh.hubs.ops import reads
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import apply_batch, ensure_schema, in_schema, positions
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema
from vsmesh.projectors.rebuild.diff import diff_schemas
from vsmesh.projectors.reverts.scoped import ENTITIES, WHOLE_HUB, RevertRefolder, revert_mode
from vsmesh.projectors.runner import run_projection

SERVICES = [f"service/s{k}" for k in range(6)]


def random_event(rng: random.Random, publisher, hub: str):
    """One event of a mix that writes every kind of row: entity rows (keyed types), subject-less evidence,
    a cost on another stream, incidents (not keyed) and, through all of them, the hub's recent events."""
    service = rng.choice(SERVICES)
    name = service.split("/")[1]
    kinds = [
        ("ops-health-checked", service, {"status": rng.choice(["green", "amber", "red"])}),
        ("ops-inventory-registered", service, {"kind": "service", "name": name, "owner": f"t{rng.randint(0, 3)}",
                                               "attributes": {"host": f"h{rng.randint(0, 3)}"}}),
        ("ops-inventory-updated", service, {"owner": f"t{rng.randint(4, 6)}", "attributes": {"tier": rng.randint(1, 3)},
                                            "removed_attributes": rng.choice([[], ["host"]])}),
        ("ops-drift-detected", service, {"summary": f"drift {rng.randint(0, 9)}", "severity": "low"}),
        ("ops-endpoint-verified", None if rng.random() < 0.6 else f"endpoint/ep{rng.randint(0, 2)}",
         {"endpoint": f"ep{rng.randint(0, 2)}", "expected_status": 200, "observed_status": rng.choice([200, 503])}),
        ("fin-cost-recorded", service, {"amount": {"amount": f"{rng.randint(1, 99)}.00", "currency": "EUR"}}),
        ("ops-incident-opened", service, {"title": f"{name} down", "affected": [service]}),
        ("ops-inventory-retired", service, {"reason": "gone"}),
    ]  # fmt: skip
    event_type, subject, data = rng.choices(kinds, weights=[35, 10, 10, 10, 15, 10, 5, 5])[0]
    return publisher.build(event_type, hub=hub, subject=subject, data=data)


def revert_of(publisher, target: Event):
    data = {"event_id": target.id, "event_type": target.type, "entity": target.subject, "reason": "test"}
    return publisher.build("event-reverted", hub=target.hub, subject=target.subject, data=data)


def expected_mode(target: Event, by_id: dict[str, Event], projection: Projection) -> str:
    """Scoped when the event at the end of the revert chain is of a keyed type and names its entity."""
    while target.type == "event-reverted":
        target = by_id[target.data.event_id]
    assert projection.scope is not None
    return ENTITIES if target.type in projection.scope.keyed and target.subject else WHOLE_HUB


async def catch_up(js, db, projection: Projection, refolder: RevertRefolder | None = None) -> None:
    """Apply everything stored past the hub's positions, batch by batch, as the live projector does (and, with
    `refolder`, hand it the batches, as the live projector does; without, it reads the reverts' table and log)."""
    at = await positions(db, projection, projection.schema)
    for stream, subject in projection.streams.items():
        after = at.get(stream, 0)
        if not await count_pending(js, stream, subject, after):
            continue
        async with StreamReader(js, stream, subject, Start(after_seq=after)) as reader:
            async for batch in reader.drain_to_head(100):
                async with driver.transaction(db, projection.schema) as conn:
                    await apply_batch(conn, projection, stream, batch)
                if refolder is not None:
                    refolder.arrived(batch)


async def assert_same_as_rebuild(js, db, projection: Projection, name: str, seed: int) -> None:
    await rebuild(js, db, projection, into=name)
    try:
        diff = await diff_schemas(db, projection, projection.schema, pit_schema(name))
        differing = [t for t in diff.as_dict()["tables"] if t["added"] or t["removed"] or t["changed"]]
        assert diff.identical, f"seed {seed}: the scoped revert differs from a rebuild: {differing}"
    finally:
        await drop_schema(db, pit_schema(name))


@pytest.mark.parametrize("seed", [1, 2])
async def test_after_each_random_revert_the_hub_equals_a_rebuild_without_the_reverted_events(bus, db, seed):
    js, publisher = bus
    rng = random.Random(seed)
    slug = f"rv-{uuid.uuid4().hex[:8]}"
    projection = ops_projection(slug)
    assert revert_mode(projection) == ENTITIES
    # More than the 200 recent events ops keeps, so reverting a recent one refills the list from the log.
    history = [random_event(rng, publisher, slug) for _ in range(rng.randint(220, 280))]
    await publisher.publish_many(history)
    await ensure_schema(db, projection, projection.schema)
    await catch_up(js, db, projection)
    refolder = RevertRefolder(js, db, projection)
    await refolder.load()
    by_id = {e.id: e for e in history}
    reverts: list[Event] = []
    modes = []
    try:
        for n in range(4):
            if reverts and rng.random() < 0.25:
                target = rng.choice(reverts)  # reverting a revert restores its event
            elif rng.random() < 0.6:
                target = rng.choice(history[-20:])  # among the recent events: the list must refill
            else:
                target = rng.choice(history)
            revert = revert_of(publisher, target)
            await publisher.publish(revert)
            reverts.append(revert)
            by_id[revert.id] = revert
            await catch_up(js, db, projection, refolder if rng.random() < 0.5 else None)
            mode = await refolder.refold()
            assert mode == expected_mode(target, by_id, projection), (seed, target.type, target.subject)
            modes.append(mode)
            await assert_same_as_rebuild(js, db, projection, f"{slug}-{n}", seed)
    finally:
        await drop_schema(db, projection.schema)
    assert ENTITIES in modes, f"seed {seed} never took the scoped path: {modes}"


async def green_then_red(js, db, publisher, projection) -> tuple[list, RevertRefolder]:
    """service/a checked green then red, applied, and a refolder loaded for the hub."""
    checks = [publisher.build("ops-health-checked", hub=projection.hub, subject="service/a", data={"status": s})
              for s in ("green", "red")]  # fmt: skip
    await publisher.publish_many(checks)
    await ensure_schema(db, projection, projection.schema)
    await catch_up(js, db, projection)
    refolder = RevertRefolder(js, db, projection)
    await refolder.load()
    return checks, refolder


async def test_a_hub_whose_handlers_do_not_say_what_they_key_on_re_folds_whole(bus, db):
    js, publisher = bus
    slug = f"rv-{uuid.uuid4().hex[:8]}"
    projection = ops_projection(slug)
    projection.scope = None
    assert revert_mode(projection) == WHOLE_HUB
    checks, refolder = await green_then_red(js, db, publisher, projection)
    await publisher.publish(revert_of(publisher, checks[1]))
    await catch_up(js, db, projection)
    try:
        assert await refolder.refold() == WHOLE_HUB
        await assert_same_as_rebuild(js, db, projection, f"{slug}-whole", 0)
    finally:
        await drop_schema(db, projection.schema)


async def test_the_summary_answered_before_a_scoped_revert_is_not_answered_again_after_it(bus, db):
    # The summary is kept while the hub's positions stay (hubs/ops/answers.py); a scoped re-fold changes rows
    # and leaves the positions where they are.
    js, publisher = bus
    slug = f"rv-{uuid.uuid4().hex[:8]}"
    projection = ops_projection(slug)
    checks, refolder = await green_then_red(js, db, publisher, projection)

    async def status_of_a() -> str:
        async with db.connect() as conn:
            answer = await reads.domain_summary(await in_schema(conn, projection.schema))
        return next(s["status"] for s in answer["services"] if s["name"] == "a")

    try:
        assert await status_of_a() == "red"
        await publisher.publish(revert_of(publisher, checks[1]))
        await catch_up(js, db, projection, refolder)
        assert await status_of_a() == "red"  # the revert is recorded; its entity is not re-folded yet
        assert await refolder.refold() == ENTITIES
        assert await status_of_a() == "green"
    finally:
        await drop_schema(db, projection.schema)


async def status_of(db, projection: Projection, service: str) -> str:
    async with db.connect() as conn:
        answer = await reads.domain_summary(await in_schema(conn, projection.schema))
    return next(s["status"] for s in answer["services"] if s["name"] == service)


@pytest.mark.parametrize("scoped", [True, False], ids=["entities", "whole-hub"])
async def test_a_revert_stored_just_before_its_projector_stopped_shows_once_it_runs_again(bus, db, settings, scoped):
    # The live projector stores a revert with its batch and re-folds after; stopped in between (a lost lease, a
    # crash), the next one must still re-fold, not take the stored revert for one its tables show.
    js, publisher = bus
    slug = f"rv-{uuid.uuid4().hex[:8]}"
    projection = ops_projection(slug)
    if not scoped:
        projection.scope = None
    checks, _ = await green_then_red(js, db, publisher, projection)
    await publisher.publish(revert_of(publisher, checks[1]))
    await catch_up(js, db, projection)  # stored, never re-folded: the projector stopped here
    stop = asyncio.Event()
    task = asyncio.create_task(run_projection(js, db, projection, settings, stop, ProjectorStats(slug)))
    try:
        deadline = time.monotonic() + 30
        while await status_of(db, projection, "a") != "green":
            assert time.monotonic() < deadline, "the stored revert never showed: service a is still red"
            await asyncio.sleep(0.05)
        # Shown now, and recorded as shown: the next start has nothing to re-fold.
        later = RevertRefolder(js, db, projection)
        assert not await later.load()
    finally:
        stop.set()
        await task
        await drop_schema(db, projection.schema)


async def test_partitions_starting_side_by_side_all_load_the_record_of_shown_reverts(bus, db):
    # Each partition's projector loads it as it starts, and the first load of a schema makes its table.
    js, _ = bus
    projection = ops_projection(f"rv-{uuid.uuid4().hex[:8]}")
    await ensure_schema(db, projection, projection.schema)
    try:
        behind = await asyncio.gather(*(RevertRefolder(js, db, projection).load() for _ in range(6)))
        assert behind == [False] * 6
    finally:
        await drop_schema(db, projection.schema)


async def test_a_scoped_revert_on_a_hub_of_two_partitions_equals_a_rebuild_without_the_reverted_events(bus, db):
    js, publisher = bus
    rng = random.Random(3)
    slug = f"rv-{uuid.uuid4().hex[:8]}"
    projection = ops_projection(slug)
    parts = [projection.for_partition(Partition(k, 2)) for k in range(2)]
    # The hub ran as one projector first (its plain position rows stay behind), then as two partitions.
    history = [random_event(rng, publisher, slug) for _ in range(240)]
    await publisher.publish_many(history[:100])
    await ensure_schema(db, projection, projection.schema)
    await catch_up(js, db, projection)
    await publisher.publish_many(history[100:])
    for part in parts:
        await catch_up(js, db, part)
    refolder = RevertRefolder(js, db, projection)  # partition 0's process re-folds for the hub (runner.py)
    await refolder.load()
    by_id = {e.id: e for e in history}
    keyed = [e for e in history if e.subject and e.type in (projection.scope.keyed if projection.scope else ())]
    # An old event (its entity changed after the single projector's last position), a recent one, a revert of
    # the first revert (the event comes back), and any event.
    targets = [rng.choice([e for e in keyed if e in history[:100]]), rng.choice(keyed[-20:]), None, rng.choice(history)]
    reverts: list[Event] = []
    modes = []
    try:
        for n, target in enumerate(targets):
            target = target or reverts[0]
            revert = revert_of(publisher, target)
            await publisher.publish(revert)
            reverts.append(revert)
            by_id[revert.id] = revert
            # One partition may still lag behind the revert when the hub re-folds: it applies its share after.
            lagging = rng.choice([None, *parts])
            for part in parts:
                if part is not lagging:
                    await catch_up(js, db, part, refolder)
            modes.append(await refolder.refold())
            if lagging is not None:
                await catch_up(js, db, lagging)
            assert modes[-1] == expected_mode(target, by_id, projection), (target.type, target.subject)
            await assert_same_as_rebuild(js, db, projection, f"{slug}-{n}", 3)
    finally:
        await drop_schema(db, projection.schema)
    assert ENTITIES in modes, f"never took the scoped path: {modes}"
