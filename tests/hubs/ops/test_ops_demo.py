"""`vsmesh demo`: the seeds' picture, published once however often it runs. (`vsmesh up` on an empty data dir
publishing it by itself is shown by tests/test_package.py, on the installed wheel's own fresh mesh.)"""

import json

from tests.conftest import wait_until


def test_demo_publishes_the_seed_picture_once(cli, running_mesh):
    first = cli("demo", "--json")
    assert first.exit_code == 0, first.output
    # A second run finds every event stored: nothing new.
    once = json.loads(first.stdout)
    second = json.loads(cli("demo", "--json").stdout)
    assert second["published"] == 0 and second["present"] == once["published"] + once["present"]
    # The seven shipped VSM hub manifests are bootstrapped too, and only the first time.
    assert second["manifests_published"] == 0

    def services() -> dict:
        answer = cli("ops", "services", "--json")
        return {s["name"]: s for s in json.loads(answer.stdout)["services"]} if answer.exit_code == 0 else {}

    found = wait_until(lambda: "inter-hub" in (s := services()) and s, timeout=30, what="the demo services")
    assert {"gitea", "gitea-registry", "gitea-postgres", "state-hub", "inter-hub"} <= set(found)
    registry = found["gitea-registry"]
    assert registry["environment"] == "coulombcore" and registry["status"] == "green"
    assert registry["endpoints"][0]["url"] == "https://gitea.coulomb.social/v2/"
    assert found["inter-hub"]["status"] == "red" and found["inter-hub"]["open_incidents"]

    wave = json.loads(cli("ops", "readiness", "coulombcore-to-threephoenix", "--json").stdout)
    assert wave["may_proceed"] is False and wave["total"] == 9
