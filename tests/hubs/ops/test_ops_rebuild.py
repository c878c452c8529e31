"""ops-hub's read model is derived: a rebuild from the log, one event per batch, gives the live rows exactly."""

import asyncio

import sqlalchemy as sa

from vsmesh.hubs.ops import tables
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema

OPS_TABLES = [t for t in tables.metadata.sorted_tables if t.name in {
    "inventory", "inventory_attributes", "evidence", "incidents", "incident_timeline",
    "readiness_gates", "change_records", "debts", "recent_events",
}]  # fmt: skip


async def dump(engine, schema: str) -> dict[str, list[tuple]]:
    """Every ops table's rows in key order, in PostgreSQL's text form."""
    found = {}
    async with engine.connect() as conn:
        for table in OPS_TABLES:
            keys = ", ".join(c.name for c in table.primary_key.columns)
            query = sa.text(f'SELECT t::text FROM "{schema}"."{table.name}" t ORDER BY {keys}')
            found[table.name] = (await conn.execute(query)).all()
    return found


async def test_rebuild_gives_identical_rows(ops, unique, cli, settings):
    # The demo touches every ops table; one more event makes sure the live projector is at the head.
    assert (await asyncio.to_thread(cli, "demo")).exit_code == 0
    await ops.publish("ops-health-checked", f"service/rebuild-{unique}", status="green")
    await ops.ask("get_services", name=f"rebuild-{unique}")
    copy = f"ops-copy-{unique}"
    engine = create_engine(settings)
    try:
        built = await asyncio.to_thread(cli, "rebuild", "ops-hub", "--into", copy, "--batch-size", "1")
        assert built.exit_code == 0, built.output
        live = await dump(engine, "ops_hub")
        assert all(live.values()), "every ops table must have rows to compare"
        assert await dump(engine, pit_schema(copy)) == live
    finally:
        await drop_schema(engine, pit_schema(copy))
        await engine.dispose()
