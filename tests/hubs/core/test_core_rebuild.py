"""The core read model is derived: replaying the log, one event per batch, gives the live rows exactly."""

from __future__ import annotations

import sqlalchemy as sa

from tests.hubs.core.core_helpers import after, publish
from vsmesh.bus.contract_client import ask
from vsmesh.hubs.core.tables import CORE
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema


async def dump(engine, schema: str) -> dict[str, list[tuple]]:
    """Every core table's rows in key order, as PostgreSQL's text form (what 'byte for byte' compares)."""
    tables = {}
    async with engine.connect() as conn:
        for table in CORE.sorted_tables:
            keys = ", ".join(c.name for c in table.primary_key.columns)
            query = sa.text(f'SELECT t::text FROM "{schema}"."{table.name}" t ORDER BY {keys}')
            tables[table.name] = (await conn.execute(query)).all()
    return tables


async def test_rebuild_gives_identical_rows(nc, settings, core_hub):
    hub = core_hub.slug
    written: list[dict] = []  # every write, so the comparison waits until all are applied, on every stream

    async def write(answer) -> dict:
        written.append(await answer)
        return written[-1]

    # Every core event type, follow-ups included, so each handler's rows are compared.
    offered = await write(ask(nc, hub, "register_capability", {"capability": "audit", "metadata": {"v": 2}}))
    await ask(nc, hub, "list_capabilities", after(offered))
    asked = await write(ask(nc, hub, "request_capability", {"capability": "audit", "parameters": {"depth": 3}}))
    await ask(nc, hub, "list_capabilities", after(asked))
    await write(ask(nc, hub, "update_capability_request", {"request_id": asked["id"], "status": "rejected"}))
    sent = await write(ask(nc, hub, "send_message", {"body": "hello", "metadata": {"lang": "en"}}))
    await ask(nc, hub, "list_capabilities", after(sent))
    await write(ask(nc, hub, "mark_message_read", {"message_id": sent["id"]}))
    risk = await write(publish(nc, settings, hub, "risk-surfaced", {"title": "cert expiry"}, "cert/a"))
    await write(publish(nc, settings, hub, "risk-mitigated", {"risk_id": risk["id"], "residual_severity": "low"}))
    accepted = {"risk_id": risk["id"], "rationale": "ok", "review_by": "2027-01-01"}
    await write(publish(nc, settings, hub, "risk-accepted", accepted))
    alert = await write(publish(nc, settings, hub, "alert-raised", {"title": "down"}))
    await write(publish(nc, settings, hub, "alert-resolved", {"alert_id": alert["id"]}))
    await write(publish(nc, settings, hub, "annotation-added", {"category": "note", "body": "b"}, "cert/a"))
    escalated = await write(ask(nc, hub, "escalate_issue", {"title": "decide"}))
    resolved = {"escalation_id": escalated["id"], "decision": "go"}
    await write(publish(nc, settings, hub, "canon-escalation-resolved", resolved))
    # The live hub has applied the last write of each stream (risks are TACTICAL, alerts OPERATIONAL, …).
    heads: dict[str, int] = {}
    for w in written:
        heads[w["stream"]] = max(heads.get(w["stream"], 0), w["seq"])
    assert len(heads) > 1, "the writes span several streams: waiting on one would not do"
    await ask(nc, hub, "get_escalations", {"wait_for_seq": heads})

    engine = create_engine(settings)
    copy = f"{hub}-copy"
    try:
        # Batches of one: a different batching from the live projector's must not change a row.
        await rebuild(nc.jetstream(), engine, core_hub.projection, into=copy, batch_size=1)
        live = await dump(engine, core_hub.projection.schema)
        assert all(live.values()), "every core table must have rows to compare"
        assert await dump(engine, pit_schema(copy)) == live
    finally:
        await drop_schema(engine, pit_schema(copy))
        await engine.dispose()
