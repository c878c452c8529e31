"""`vsmesh notify` against the session's running mesh: a person's silence is set, listed, shown on the
constitutional page; bad input is one line naming the fix; the notifier's line is in `vsmesh status`."""

from __future__ import annotations

import json

import httpx

from tests.conftest import wait_until
from vsmesh.runtime.mesh_state import load_state


def test_a_silence_is_set_listed_and_shown_on_the_constitutional_page(cli, running_mesh, session_dir) -> None:
    set_ = cli("notify", "silence", "--match", "entity=service/cli-silenced", "--match", "severity=*",
               "--until", "2h", "--reason", "registry migration tonight", "--json")  # fmt: skip
    assert set_.exit_code == 0, set_.output
    silence_id = json.loads(set_.output)["id"]

    def listed() -> list:
        return [s for s in json.loads(cli("notify", "silences", "--json").output) if s["silence_id"] == silence_id]

    [found] = wait_until(listed, timeout=60, what="the silence in canon's read model")
    assert found["matchers"] == {"entity": "service/cli-silenced", "severity": "*"} and found["author"]
    page = httpx.get(f"{load_state(session_dir / 'up').gateway_url}/constitutional", timeout=30).text
    assert f'data-silence="{silence_id}"' in page and "registry migration tonight" in page


def test_bad_silences_and_unknown_receivers_are_one_line(cli, running_mesh) -> None:
    unknown_field = cli("notify", "silence", "--match", "colour=red", "--until", "1h", "--reason", "x")
    assert unknown_field.exit_code == 1 and "no field 'colour'" in unknown_field.output
    bad_until = cli("notify", "silence", "--match", "entity=x", "--until", "soon", "--reason", "x")
    assert bad_until.exit_code == 1 and "--until 'soon'" in bad_until.output
    no_pair = cli("notify", "silence", "--match", "entity", "--until", "1h", "--reason", "x")
    assert no_pair.exit_code == 1 and "expected key=value" in no_pair.output
    unknown = cli("notify", "test", "no-such-receiver")
    assert unknown.exit_code == 1 and "no receiver 'no-such-receiver'" in unknown.output
    replay = cli("notify", "replay", "no-such-notification")
    assert replay.exit_code == 1 and "no notification no-such-notification" in replay.output
    for result in (unknown_field, bad_until, no_pair, unknown, replay):
        assert len(result.output.strip().splitlines()) == 1


def test_status_shows_the_notifier(cli, running_mesh) -> None:
    notifier = wait_until(lambda: json.loads(cli("status", "--json").output).get("notifier", {}).get("running"),
                          timeout=60, what="the notifier in vsmesh status")  # fmt: skip
    assert notifier
    shown = json.loads(cli("status", "--json").output)["notifier"]
    assert {"lag", "parked", "pending", "last_error"} <= set(shown)


def test_metrics_name_deliveries_by_receiver_and_outcome_and_their_latency(running_mesh, session_dir) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{load_state(session_dir / 'up').gateway_url}/metrics", timeout=30).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["vsmesh_notify_deliveries"].type == "counter"
    assert families["vsmesh_notify_delivery_seconds"].type == "histogram"
