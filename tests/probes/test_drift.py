"""Drift: a probe compares what it observes with what the ops inventory declares, and says so once per change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probes.conftest import until
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ConfigError, ContractError
from vsmesh.probes.model import parse_probe_file
from vsmesh.probes.runner import Identity, ProbeRunner


def probe_text(u: str, port: int) -> str:
    # The local server answers {"status": "ok", ...}: the running value of `api_status`.
    return f"""
probes:
  - name: drift-{u}
    entity: endpoint/drift-{u}
    kind: http
    url: http://127.0.0.1:{port}/
    conditions: ["[STATUS] == 200"]
    drift:
      - attribute: api_status
        observed: "[BODY].status"
        of: service/drift-{u}
        severity: high
        source_of_truth: infra/drift/values.yaml
"""


async def drift_events(nc, u: str) -> int:
    """How many ops-drift-detected events the log holds for the service."""
    subject = f"operational.ops-hub.ops-drift-detected.service:drift-{u}"
    info = await nc.jetstream().stream_info("OPERATIONAL", subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def declare(publisher: Publisher, u: str, event_type: str, data: dict) -> None:
    event = publisher.build(event_type, hub="ops-hub", subject=f"service/drift-{u}", data=data)
    await publisher.publish(event)


async def declared(nc, u: str, status: str) -> bool:
    """Whether ops-hub has applied the declaration of `status` (an entity it does not know yet: not_found)."""
    try:
        item = (await ask(nc, "ops-hub", "get_inventory", {"entity": f"service/drift-{u}"}))["item"]
    except ContractError as e:
        if e.code == "not_found":
            return False
        raise
    return item["attributes"].get("api_status") == status


async def drift_row(nc, u: str, event_id: str | None = None):
    """ops-hub's drift comparison of the service, once it has applied `event_id` (when given)."""
    item = (await ask(nc, "ops-hub", "get_inventory", {"entity": f"service/drift-{u}"}))["item"]
    row = item["drift"]
    return row if row and (event_id is None or row["event_id"] == event_id) else None


async def test_drift_is_published_once_per_change_resolved_once_and_not_repeated_after_a_restart(
    nc, settings, http_port, u
):
    publisher = Publisher(nc.jetstream(), settings)
    # The inventory declares a status the service does not run.
    await declare(
        publisher,
        u,
        "ops-inventory-registered",
        {"kind": "service", "name": f"drift-{u}", "attributes": {"api_status": "ok-v2"}},
    )
    await until(lambda: declared(nc, u, "ok-v2"), "the inventory entry")
    probes = parse_probe_file(probe_text(u, http_port))
    runner = ProbeRunner(probes, nc, settings, {}, identity=Identity("probes-drift"))

    # First run: one drift event naming both values and where the declaration lives.
    await runner.run_once()
    assert await drift_events(nc, u) == 1
    row = await until(lambda: drift_row(nc, u), "the drift on ops-hub")
    assert row["open"] and row["desired"] == {"api_status": "ok-v2"} and row["actual"] == {"api_status": "ok"}
    assert row["severity"] == "high" and row["source_of_truth"] == "infra/drift/values.yaml"

    # The same drift again is no news: the log does not grow per run.
    await runner.run_once()
    assert await drift_events(nc, u) == 1

    # A runner restarted (nothing in memory) reads what ops-hub holds and repeats nothing either.
    restarted = ProbeRunner(probes, nc, settings, {}, identity=Identity("probes-drift"))
    await restarted.run_once()
    assert await drift_events(nc, u) == 1

    # The declaration catches up with what runs: the drift is over, said once.
    await declare(publisher, u, "ops-inventory-updated", {"attributes": {"api_status": "ok"}})

    await until(lambda: declared(nc, u, "ok"), "the updated declaration")
    await restarted.run_once()
    await restarted.run_once()
    assert await drift_events(nc, u) == 2
    row = await until(lambda: _closed(nc, u), "the drift closed on ops-hub")
    assert row["desired"] == row["actual"] == {"api_status": "ok"}


async def _closed(nc, u: str):
    row = await drift_row(nc, u)
    return row if row and not row["open"] else None


async def test_an_entity_the_inventory_does_not_know_is_not_judged(nc, settings, http_port, u):
    runner = ProbeRunner(parse_probe_file(probe_text(u, http_port)), nc, settings, {}, identity=Identity("p"))
    [result] = await runner.run_once()
    assert result.passed  # the probe itself ran and published its evidence
    assert await drift_events(nc, u) == 0  # nothing declared: nothing to drift from


def test_a_drift_check_naming_a_value_its_kind_does_not_observe_is_refused_with_its_line(tmp_path: Path):
    text = (
        "probes:\n  - name: x\n    entity: endpoint/x\n    kind: tcp\n    host: h\n    port: 22\n"
        '    conditions: ["[CONNECTED] == true"]\n    drift:\n      - attribute: version\n'
        '        observed: "[BODY].version"\n'
    )
    with pytest.raises(ConfigError) as refused:
        parse_probe_file(text, "p.yaml")
    assert str(refused.value).startswith("p.yaml:10: probes[0].drift[0].observed: ")
    assert "this probe kind observes no [BODY]" in str(refused.value)
