"""What-if copies on the session's real servers: a hub rebuilt without one actor's events differs from the live
hub by exactly those events' rows, and with --cascade also by what they caused; the live hub is untouched."""

import datetime as dt
import uuid

import pytest

from tests.projectors.sample import digest, ledger, sample_projection
from tests.projectors.test_retention import follow_to_head
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ConfigError
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import pit_schema, read_build_info
from vsmesh.projectors.rebuild.diff import diff_schemas
from vsmesh.projectors.rebuild.whatif import Without, excluded_in


def as_actor(js, settings, actor: str, kind: str) -> Publisher:
    return Publisher(js, settings.model_copy(update={"actor": actor, "actor_kind": kind}), source="vsmesh/whatif-tests")


async def test_a_what_if_copy_differs_from_live_exactly_by_the_actors_effects(bus, db, settings):
    js, _ = bus
    projection = sample_projection()
    hub, bot = projection.hub, f"bot-{uuid.uuid4().hex[:6]}"
    who = (("ada", "human"), (bot, "agent"), ("cpl", "service"))
    ada, agent, service = (as_actor(js, settings, name, kind) for name, kind in who)

    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    def check(publisher, entity, status, **extra):
        return publisher.build("ops-health-checked", hub=hub, subject=entity, data={"status": status}, **extra)

    # ada sees three services green; the agent turns one red and raises an alert on a fourth; a coupling's
    # event caused by that alert touches a fifth.
    for i in range(3):
        await ada.publish(check(ada, f"service/s{i}", "green"))
    red = check(agent, "service/s1", "red")
    await agent.publish(red)
    alert = agent.build("alert-raised", hub=hub, subject="service/s3", data={"title": "disk"})
    await agent.publish(alert)
    await service.publish(check(service, "service/s4", "amber", causation_id=alert.id, correlation_id=alert.id))
    await follow_to_head(js, db, settings, projection, "OPERATIONAL")
    live = await digest(db, projection, projection.schema)

    # Without the agent: s1 is ada's green again, s3 never existed, the ledger lacks its two events.
    name = f"wi-{uuid.uuid4().hex[:6]}"
    await rebuild(js, db, projection, into=name, without=Without(actor=bot))
    diff = await diff_schemas(db, projection, projection.schema, pit_schema(name))
    tables = {t.table: t for t in diff.tables}
    entities = tables["entities"]
    assert (entities.added, entities.removed, entities.changed) == (0, 1, 1)
    assert entities.samples["removed"][0]["entity"] == "service/s3"
    assert entities.samples["changed"][0]["key"] == {"entity": "service/s1"}
    assert entities.samples["changed"][0]["columns"]["status"] == {"old": "red", "new": "green"}
    assert (tables[ledger.name].added, tables[ledger.name].removed) == (0, 2)
    assert {r["event_id"] for r in tables[ledger.name].samples["removed"]} == {red.id, alert.id}
    assert all(t.identical for t in diff.tables if t.table not in ("entities", ledger.name))  # reverts table too

    # With --cascade the coupling's event goes too: s4 never turned amber (it never existed).
    cascaded = f"wc-{uuid.uuid4().hex[:6]}"
    # Following causation reads every stream: from the test's start (--since), as a person would narrow it.
    await rebuild(js, db, projection, into=cascaded, without=Without(actor=bot, cascade=True, since=started))
    async with db.connect() as conn:
        left = await excluded_in(conn, pit_schema(cascaded))
        info = await read_build_info(conn, pit_schema(cascaded))
    assert {(r["actor"], r["caused_by"]) for r in left} == {(bot, None), ("cpl", alert.id)}
    assert info is not None and info.without and info.until.seq  # pinned to the heads it was built from
    diff = await diff_schemas(db, projection, projection.schema, pit_schema(cascaded))
    tables = {t.table: t for t in diff.tables}
    assert (tables["entities"].removed, tables["entities"].changed, tables[ledger.name].removed) == (2, 1, 3)

    # The live hub is untouched; an actor who did nothing is one line with the way to look.
    assert await digest(db, projection, projection.schema) == live
    with pytest.raises(ConfigError, match=r"nobody-\w+ did nothing on sample-\w+ .*; `vsmesh audit --actor"):
        await rebuild(js, db, projection, into=f"wn-{uuid.uuid4().hex[:6]}", without=Without(actor="nobody-x1"))
