"""A service's colour and its reason in words (hubs/ops/verdict.py, through service_view.describe_service): pure,
from a snapshot of evidence rows shaped as ops-hub stores them (the event's data as `detail`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from vsmesh.hubs.ops.health import Staleness
from vsmesh.hubs.ops.queries import Snapshot
from vsmesh.hubs.ops.service_view import describe_service

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
SERVICE = "service/web"


def evidence(kind: str, status: str, detail: dict[str, Any], *, age: dt.timedelta = dt.timedelta(minutes=3)) -> dict:
    return {
        "entity": SERVICE, "kind": kind, "status": status, "at": NOW - age, "event_id": f"ev-{kind}-{status}",
        "actor": "alice", "summary": f"{kind} {status}", "detail": detail,
    }  # fmt: skip


def incident(severity: str, title: str, status: str = "open") -> dict:
    return {"incident_id": f"inc-{severity}", "title": title, "severity": severity, "status": status,
            "affected": [SERVICE]}  # fmt: skip


def verdict(*rows: dict, incidents: tuple[dict, ...] = ()) -> dict:
    snap = Snapshot(evidence={SERVICE: list(rows)} if rows else {})
    return describe_service(snap, SERVICE, Staleness(), NOW, list(incidents))["verdict"]


HTTP_500 = {"endpoint": "https://web.example/health", "method": "GET", "expected_status": 200, "observed_status": 500,
            "verdict": "failed"}  # fmt: skip
TLS_3_DAYS = {  # as probes/evidence.py writes a failed tls probe's health check
    "status": "red",
    "observations": {"CONNECTED": True, "CERTIFICATE_EXPIRATION": 3 * 86400 - 5, "issuer": "CN=Test CA"},
    "metadata": {"probe": {"name": "web-tls", "kind": "tls", "conditions": [
        {"condition": "[CONNECTED] == true", "held": True, "observed": True},
        {"condition": "[CERTIFICATE_EXPIRATION] > 14d", "held": False, "observed": 3 * 86400 - 5},
    ]}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "status", "reason"),
    [
        ((), None, "no evidence yet"),
        ((evidence("endpoint", "red", HTTP_500),), "red", "HTTP 500 from https://web.example/health (expected 200)"),
        ((evidence("health", "red", TLS_3_DAYS),), "red", "TLS certificate expires in 3 days"),
        ((evidence("health", "red", {"status": "red"}),), "red", "health check reported red by alice"),
        ((evidence("health", "amber", {"observations": {"note": "no backup yet"}}),), "amber",
         "health check amber: no backup yet"),
        ((evidence("health", "green", {"status": "green"}, age=dt.timedelta(hours=26)),), "red",
         "no evidence for 26 h"),
        ((evidence("health", "green", {"status": "green"}, age=dt.timedelta(minutes=61)),), "amber",
         "no evidence for 61 min"),
        ((evidence("endpoint", "green", {**HTTP_500, "observed_status": 200, "verdict": "passed"}),), "green",
         "HTTP 200 from https://web.example/health, as expected"),
        ((evidence("endpoint", "red", {**HTTP_500, "observed_status": None, "error": "connection refused"}),), "red",
         "no answer from https://web.example/health: connection refused"),
    ],
)  # fmt: skip
def test_a_colour_is_explained_in_words(rows, status, reason) -> None:
    said = verdict(*rows)
    assert (said["status"], said["reason"]) == (status, reason)
    assert "failing" not in said["reason"]


def test_an_open_critical_incident_makes_a_green_service_red_and_is_named() -> None:
    said = verdict(evidence("health", "green", {}), incidents=(incident("critical", "database lost"),))
    assert said == {"status": "red", "reason": "open critical incident: database lost", "event_id": "inc-critical",
                    "incident_id": "inc-critical"}  # fmt: skip


def test_an_open_high_incident_makes_it_at_least_amber_a_mitigated_critical_one_too() -> None:
    high = verdict(evidence("health", "green", {}), incidents=(incident("high", "slow answers"),))
    assert (high["status"], high["reason"]) == ("amber", "open high incident: slow answers")
    mitigated = verdict(evidence("health", "green", {}), incidents=(incident("critical", "outage", "mitigated"),))
    assert (mitigated["status"], mitigated["reason"]) == ("amber", "open critical incident, mitigated: outage")
    unknown = verdict(incidents=(incident("high", "no probe yet"),))
    assert (unknown["status"], unknown["reason"]) == ("amber", "open high incident: no probe yet; no evidence yet")


def test_worse_evidence_keeps_its_colour_and_reason_and_names_the_incident_too() -> None:
    said = verdict(evidence("endpoint", "red", HTTP_500), incidents=(incident("high", "web answers 500"),))
    assert said["status"] == "red" and said["event_id"] == "ev-endpoint-red"
    http = "HTTP 500 from https://web.example/health (expected 200)"
    assert said["reason"] == f"{http}; open high incident: web answers 500"


def test_a_lower_incident_is_named_and_changes_no_colour() -> None:
    said = verdict(evidence("health", "green", {}), incidents=(incident("medium", "flaky login"),))
    assert said == {"status": "green", "reason": "health check passed; open medium incident: flaky login",
                    "event_id": "ev-health-green", "incident_id": None}  # fmt: skip


@pytest.mark.parametrize(
    "metadata",
    [
        {"probe": "nightly-check"},
        {"probe": {"conditions": ["[STATUS] == 200"]}},
        {"probe": {"conditions": 7}},
        {"probe": None},
    ],
    ids=["probe-is-text", "conditions-are-text", "conditions-are-a-number", "probe-is-null"],
)
def test_metadata_of_any_shape_still_gives_a_reason(metadata):
    """Metadata is free-form: a publisher's own `probe` value must not break ops-hub's answer for every service."""
    red = evidence("health", "red", {"status": "red", "metadata": metadata})
    assert verdict(red)["reason"] == "health check reported red by alice"
    endpoint = evidence("endpoint", "red", {**HTTP_500, "metadata": metadata})
    assert verdict(endpoint)["reason"] == "HTTP 500 from https://web.example/health (expected 200)"
