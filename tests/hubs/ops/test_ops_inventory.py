"""ops-hub's inventory through the contract and `vsmesh ops services`: what runs where, and why."""

import asyncio
import json


async def test_inventory_with_relations_shows_in_ops_services(ops, unique, cli):
    env, host, svc, ep = f"env-{unique}", f"host-{unique}", f"svc-{unique}", f"ep-{unique}"
    # An environment, a host in it, a service on the host, an endpoint of the service and a way in.
    await ops.publish("ops-inventory-registered", f"environment/{env}", kind="environment", name=env)
    await ops.publish("ops-inventory-registered", f"host/{host}", kind="host", name=host, environment=env)
    await ops.publish(
        "ops-inventory-registered",
        f"service/{svc}",
        kind="service",
        name=svc,
        owner="team-ops",
        attributes={"host": host, "purpose": "serves the test", "tier": "gold"},
    )
    await ops.publish(
        "ops-inventory-registered",
        f"endpoint/{ep}",
        kind="endpoint",
        name=ep,
        attributes={"service": svc, "url": f"https://{svc}.example/"},
    )
    await ops.publish(
        "ops-inventory-registered",
        f"access-path/{unique}",
        kind="access-path",
        name=f"ssh-{unique}",
        attributes={"service": svc, "type": "ssh", "target": f"root@{host}"},
    )
    await ops.publish("ops-health-checked", f"service/{svc}", status="green")
    await ops.publish(
        "ops-endpoint-verified",
        f"endpoint/{ep}",
        endpoint=f"https://{svc}.example/",
        expected_status=200,
        observed_status=200,
    )
    await ops.ask("get_services", name=svc)  # read-your-writes: everything above is applied

    # The CLI answers an operator's question for this service: where, why, who, how reached, what proves it.
    # (in a thread: the CLI runs its own event loop)
    result = await asyncio.to_thread(cli, "ops", "services", "--name", svc, "--json")
    assert result.exit_code == 0, result.output
    [service] = json.loads(result.stdout)["services"]
    assert service["environment"] == env  # from the host it runs on
    assert (service["host"], service["owner"], service["purpose"]) == (host, "team-ops", "serves the test")
    assert service["status"] == "green" and service["catalogued"]
    assert service["endpoints"] == [
        {"name": ep, "entity": f"endpoint/{ep}", "url": f"https://{svc}.example/", "status": "green", "retired": False}
    ]
    assert service["access_paths"][0]["target"] == f"root@{host}"
    assert sorted(e["kind"] for e in service["evidence"]) == ["endpoint", "health"]
    table = (await asyncio.to_thread(cli, "ops", "services", "--environment", env)).stdout
    assert svc in table and "green" in table

    # A failing endpoint makes the service red; an update merges attributes; retiring hides it.
    await ops.publish(
        "ops-endpoint-verified",
        f"endpoint/{ep}",
        endpoint=f"https://{svc}.example/",
        expected_status=200,
        observed_status=503,
    )
    await ops.publish(
        "ops-inventory-updated",
        f"service/{svc}",
        owner="team-platform",
        attributes={"tier": "silver"},
        removed_attributes=["purpose"],
    )
    [service] = (await ops.ask("get_services", name=svc))["services"]
    assert service["status"] == "red" and service["owner"] == "team-platform"
    assert service["attributes"] == {"host": host, "tier": "silver"} and service["purpose"] is None
    await ops.publish("ops-inventory-retired", f"service/{svc}", reason="replaced", replaced_by="service/next")
    assert (await ops.ask("get_services", name=svc))["services"] == []
    [retired] = (await ops.ask("get_services", name=svc, include_retired=True))["services"]
    assert retired["status"] == "retired" and retired["replaced_by"] == "service/next"


async def test_a_service_only_seen_in_evidence_or_discovery_is_listed_uncatalogued(ops, unique):
    await ops.publish("ops-health-checked", f"service/seen-{unique}", status="amber")
    await ops.publish("ops-service-discovered", None, name=f"found-{unique}", method="k8s-api", environment="lab")
    found = {s["name"]: s for s in (await ops.ask("get_services"))["services"]}
    assert found[f"seen-{unique}"]["status"] == "amber" and not found[f"seen-{unique}"]["catalogued"]
    discovered = found[f"found-{unique}"]
    assert (discovered["discovered_via"], discovered["environment"], discovered["status"]) == ("k8s-api", "lab", None)
