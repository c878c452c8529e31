"""legal-hub's AI register hears of each agent once per hub: the agent couplings remember whom legal has seen
(and whom they reported) instead of asking legal for every event an agent writes, and a restarted process asks
legal again."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.events.codec import decode_message
from vsmesh.events.envelope import Event
from vsmesh.hubs.legal.couplings import couplings

HUB = "legal-hub"


async def until(check, what: str, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def by_agent(publisher: Publisher, agent: str, n: int) -> list[Event]:
    """`n` runbook steps an agent records on ops-hub."""
    events = [
        publisher.build("ops-runbook-executed", hub="ops-hub", subject=f"runbook/agents-{agent}",
                        data={"runbook": f"agents-{agent}", "outcome": "succeeded", "steps": [str(i)]})
        for i in range(n)
    ]  # fmt: skip
    return [msgspec.structs.replace(e, actor=agent, actorkind="agent") for e in events]


async def observations(nc: Client, agent: str) -> list[Event]:
    """legal-agent-observed events stored about the agent."""
    subject = f"strategic.legal-hub.legal-agent-observed.ai-system:{agent}"
    found: list[Event] = []
    async with StreamReader(nc.jetstream(), "STRATEGIC", subject, Start()) as reader:
        async for batch in reader.drain_to_head():
            found += [decode_message(m.data, m.headers) for m in batch]
    return found


async def test_an_agent_writing_many_events_at_once_is_observed_once(nc, settings, running_mesh):
    publisher = Publisher(nc.jetstream(), settings)
    agent = f"agent-{uuid.uuid4().hex[:8]}"
    # A new agent writes five events at once, then five more after legal has observed it.
    await publisher.publish_many(by_agent(publisher, agent, 5))
    seen = lambda: ask(nc, HUB, "agent_seen", {"agent": agent, "hub": "ops-hub"})  # noqa: E731
    await until(lambda: _true(seen(), "seen"), "legal to have seen the agent")
    later = await publisher.publish_many(by_agent(publisher, agent, 5))
    await until(lambda: _passed(settings, max(p.sequence for p in later)), "the coupling to read the later events")
    # One observation: the first event's; the other nine are of an agent already reported or seen.
    found = await observations(nc, agent)
    assert [(e.data.actor, e.data.seen_on_hub) for e in found] == [(agent, "ops-hub")]


@dataclass
class Asking:
    """What a reaction may use in a freshly started process: legal's real contract, nothing emitted before."""

    nc: Client
    stream: str = "OPERATIONAL"
    seq: int = 0

    async def ask(self, hub: str, operation: str, request: dict[str, Any]) -> Any:
        return await ask(self.nc, hub, operation, request)

    async def emitted(self, event_id: str) -> dict[str, Any] | None:
        return None


async def test_a_restarted_coupling_asks_legal_and_reports_a_new_agent_once(nc, settings, running_mesh):
    publisher = Publisher(nc.jetstream(), settings)
    known, new = f"agent-{uuid.uuid4().hex[:8]}", f"agent-{uuid.uuid4().hex[:8]}"
    # The running mesh reports an agent to legal.
    await publisher.publish_many(by_agent(publisher, known, 1))
    seen = lambda: ask(nc, HUB, "agent_seen", {"agent": known, "hub": "ops-hub"})  # noqa: E731
    await until(lambda: _true(seen(), "seen"), "legal to have seen the agent")
    # A process started afresh remembers nothing: it asks legal, which has seen the first agent.
    [react] = [c.react for c in couplings() if c.name == "ops-agent-to-legal"]
    ctx = Asking(nc)
    [of_known] = by_agent(publisher, known, 1)
    assert await react(of_known, ctx) == []
    # An agent legal has not seen is reported for its first event only ...
    first, second = by_agent(publisher, new, 2)
    [emit] = await react(first, ctx)
    assert (emit.type, emit.subject, emit.data["actor"]) == ("legal-agent-observed", f"ai-system/{new}", new)
    assert await react(second, ctx) == []
    # ... and again for that same event when its batch is retried (the report may not have been stored).
    assert [e.data for e in await react(first, ctx)] == [emit.data]


async def _true(answer, key: str) -> bool:
    return bool((await answer)[key])


async def _passed(settings, seq: int) -> bool:
    import asyncpg

    conn = await asyncpg.connect(settings.database_url)
    try:
        query = "SELECT seq FROM vsmesh_reactors.positions WHERE coupling = 'ops-agent-to-legal' AND stream = $1"
        return (await conn.fetchval(query, "OPERATIONAL") or 0) >= seq
    finally:
        await conn.close()
