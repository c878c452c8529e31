"""ops-hub's write operations over its contract: incidents, services, runbook steps, access-path checks.

Each write names its caller as the event's actor; a follow-up to something the hub does not know is refused.
"""

from __future__ import annotations

import pytest

from vsmesh.errors import ContractError


class Writer:
    """Calls ops-hub's writes as `tester` and reads back what they did (read-your-writes)."""

    def __init__(self, ops) -> None:
        self.ops = ops

    async def write(self, operation: str, **request) -> dict:
        done = await self.ops.ask(operation, actor="tester", actor_kind="human", **request)
        self.ops.seen[done["stream"]] = max(self.ops.seen.get(done["stream"], 0), done["seq"])
        return done


@pytest.fixture
def writer(ops) -> Writer:
    return Writer(ops)


async def test_an_incident_is_opened_updated_and_resolved_through_the_contract(writer, ops, unique):
    svc = f"service/w-{unique}"
    opened = await writer.write("open_incident", title=f"down {unique}", severity="high", affected=[svc])
    await writer.write("update_incident", incident_id=opened["id"], status="investigating", note="looking")
    await writer.write("resolve_incident", incident_id=opened["id"], resolution="restarted", root_cause="oom")

    [incident] = (await ops.ask("get_incidents", incident_id=opened["id"]))["incidents"]
    assert (incident["entity"], incident["status"], incident["root_cause"]) == (svc, "resolved", "oom")
    assert [(t["status"], t["actor"]) for t in incident["timeline"]] == [
        ("open", "tester"),
        ("investigating", "tester"),
        ("resolved", "tester"),
    ]
    # A resolved incident takes no more updates; an unknown one is named.
    with pytest.raises(ContractError) as resolved:
        await writer.write("update_incident", incident_id=opened["id"], note="too late")
    assert resolved.value.code == "resolved"
    with pytest.raises(ContractError) as unknown:
        await writer.write("resolve_incident", incident_id="no-such-incident")
    assert unknown.value.code == "not_found" and "get_incidents" in str(unknown.value)


async def test_a_service_is_registered_then_updated(writer, ops, unique):
    name = f"svc-{unique}"
    with pytest.raises(ContractError) as unknown:
        await writer.write("update_service", name=name, owner="nobody")
    assert unknown.value.code == "not_found" and "register_service" in str(unknown.value)

    await writer.write("register_service", name=name, environment="local", owner="team-a", host="workstation")
    await writer.write("update_service", name=name, owner="team-b", attributes={"namespace": "apps"})
    [service] = (await ops.ask("get_services", name=name))["services"]
    assert (service["owner"], service["environment"], service["host"]) == ("team-b", "local", "workstation")


async def test_runbook_steps_and_access_path_checks_are_evidence(writer, ops, unique):
    runbook, path = f"restore-{unique}", f"ssh-{unique}"
    ran = await writer.write("record_runbook_step", runbook=runbook, outcome="succeeded", steps=["stop", "restore"])
    checked = await writer.write("verify_access_path", name=path, reachable=False, method="ssh", detail="timeout")

    [run] = (await ops.ask("get_evidence", entity=f"runbook/{runbook}"))["evidence"]
    assert run["event_id"] == ran["id"]
    [proof] = (await ops.ask("get_evidence", entity=f"access-path/{path}"))["evidence"]
    assert (proof["event_id"], proof["status"]) == (checked["id"], "red")


async def test_a_write_refuses_bad_input_with_the_field_named(writer):
    with pytest.raises(ContractError) as bad:
        await writer.write("record_runbook_step", runbook="r", outcome="maybe")
    assert bad.value.code == "invalid_request" and "outcome" in str(bad.value)
