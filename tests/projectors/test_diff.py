"""A diff before the swap: a rebuild shows what its new schema changes and swaps only when accepted; two
point-in-time copies show what changed between two moments."""

from __future__ import annotations

import sqlalchemy as sa

from tests.projectors.sample import digest, entities, health_events, sample_projection
from tests.projectors.test_rebuild import project_live
from vsmesh.projectors.engine.pipeline import Until
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import pit_schema
from vsmesh.projectors.rebuild.diff import diff_schemas


async def tamper(db, projection, sql: str) -> None:
    """What a hand-edited read model (or a bug fixed since) leaves behind: rows the log does not explain."""
    async with db.begin() as conn:
        await conn.execute(sa.text(sql.replace("entities", f'"{projection.schema}".entities')))


async def test_a_rebuild_shows_its_diff_and_swaps_only_when_accepted(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    await publisher.publish_many(health_events(publisher, projection.hub, 300, entities_count=5))
    await project_live(js, db, settings, projection)
    clean = await digest(db, projection, projection.schema)
    reviewed = []

    async def accept(diff) -> bool:
        reviewed.append(diff)
        return True

    same = await rebuild(js, db, projection, review=accept)
    assert same.swapped and reviewed[-1].identical  # an identical result says so

    await tamper(db, projection, "UPDATE entities SET status = 'purple' WHERE entity = 'service/s1'")
    await tamper(db, projection, "DELETE FROM entities WHERE entity = 'service/s2'")
    await tamper(
        db, projection, "INSERT INTO entities (entity, status, updated_seq) VALUES ('service/ghost', 'red', 1)"
    )
    tampered = await digest(db, projection, projection.schema)

    async def decline(diff) -> bool:
        reviewed.append(diff)
        return False

    declined = await rebuild(js, db, projection, review=decline)
    assert not declined.swapped and await digest(db, projection, projection.schema) == tampered
    [rows] = [t for t in reviewed[-1].tables if t.table == "entities"]
    # The new schema against the live one: the deleted row comes back, the ghost goes, the colour is fixed.
    assert (rows.added, rows.removed, rows.changed) == (1, 1, 1)
    assert rows.samples["added"][0]["entity"] == "service/s2"
    assert rows.samples["removed"][0]["entity"] == "service/ghost"
    [changed] = rows.samples["changed"]
    assert changed["key"] == {"entity": "service/s1"} and changed["columns"]["status"]["old"] == "purple"
    assert [t.table for t in reviewed[-1].tables if not t.identical] == ["entities"]

    accepted = await rebuild(js, db, projection, review=accept)  # resumes the kept build, then swaps
    assert accepted.swapped and accepted.resumed
    assert await digest(db, projection, projection.schema) == clean


async def test_two_point_in_time_copies_show_what_changed_between_them(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    first = await publisher.publish_many(health_events(publisher, projection.hub, 30, entities_count=3))
    more = [publisher.build("ops-health-checked", hub=projection.hub, subject="service/s9",
                            data={"status": "red", "observations": {}})]  # fmt: skip
    [s9] = await publisher.publish_many(more)  # not first's sequence + 1: the session's mesh publishes meanwhile
    name = projection.hub.replace("sample-", "d")
    await rebuild(js, db, projection, into=f"{name}-a", until=Until(seq={"*": first[-1].sequence}))
    await rebuild(js, db, projection, into=f"{name}-b", until=Until(seq={"*": s9.sequence}))
    diff = await diff_schemas(db, projection, pit_schema(f"{name}-a"), pit_schema(f"{name}-b"))
    [rows] = [t for t in diff.tables if t.table == entities.name]
    assert (rows.added, rows.removed, rows.changed) == (1, 0, 0) and rows.samples["added"][0]["entity"] == "service/s9"
    ledger = [t for t in diff.tables if t.table == "ledger"][0]  # no primary key: compared as a multiset
    assert (ledger.added, ledger.removed) == (1, 0)
