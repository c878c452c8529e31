"""`vsmesh demo`: the seeds' picture, published once however often it runs."""

import json
import os
import shutil
import subprocess

from tests.conftest import VSMESH, server_dir, wait_until


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

    found = wait_until(lambda: "inter-hub" in (s := services()) and s, timeout=10, what="the demo services")
    assert {"gitea", "gitea-registry", "gitea-postgres", "state-hub", "inter-hub"} <= set(found)
    registry = found["gitea-registry"]
    assert registry["environment"] == "coulombcore" and registry["status"] == "green"
    assert registry["endpoints"][0]["url"] == "https://gitea.coulomb.social/v2/"
    assert found["inter-hub"]["status"] == "red" and found["inter-hub"]["open_incidents"]

    wave = json.loads(cli("ops", "readiness", "coulombcore-to-threephoenix", "--json").stdout)
    assert wave["may_proceed"] is False and wave["total"] == 9


def test_up_on_a_new_embedded_data_dir_shows_a_populated_mesh():
    root = server_dir()
    data_dir = root / "mesh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | {"VSMESH_DATA_DIR": str(data_dir)}

    def vsmesh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*VSMESH, *args], env=env, capture_output=True, text=True, timeout=120)

    try:
        # `make run` on an empty data dir: the demo is published once the mesh is ready.
        assert vsmesh("up", "--detach").returncode == 0

        def demo_services() -> set[str]:
            answer = vsmesh("ops", "services", "--json")
            return {s["name"] for s in json.loads(answer.stdout)["services"]} if answer.returncode == 0 else set()

        wait_until(lambda: {"gitea", "state-hub"} <= demo_services(), timeout=20, what="the demo in a new mesh")
    finally:
        vsmesh("down")
        shutil.rmtree(root, ignore_errors=True)
