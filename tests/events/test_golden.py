"""Golden v1 events, as publishers stored them: they must decode, forever, to today's types.

The files under golden/ are frozen. Never edit one to make a test pass: a failure here means a schema
change broke stored events and needs a new version with an upcaster (events/upcasters.py).
"""

import json
from pathlib import Path

import msgspec
import pytest

from tests.events.samples import coded_registry
from vsmesh.events import decode_event

REGISTRY = coded_registry()

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.v1*.json"))

# What upcasting changes in a golden's data; every other value must read back exactly as stored.
UPCAST = {
    "ops-inventory-registered.v1.json": {"kind": "service"},
    "ops-inventory-registered.v1-no-schemaversion.json": {"kind": "host"},
    "ops-inventory-registered.v1-free-kind.json": {"kind": "other", "kind_detail": "object store"},
}


def test_every_event_type_has_a_v1_golden():
    covered = {json.loads(f.read_bytes())["type"] for f in FILES}
    assert covered == set(REGISTRY.types())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_golden_v1_decodes_to_the_current_version(path: Path):
    stored = json.loads(path.read_bytes())
    assert stored.get("schemaversion", 1) == 1  # goldens are what v1 publishers wrote
    event = decode_event(path.read_bytes())
    assert event.type == stored["type"] and event.id == stored["id"]
    # Read as the current version, whatever version it was stored at.
    assert event.schemaversion == REGISTRY.version(event.type)
    expected = {**stored["data"], **UPCAST.get(path.name, {})}
    for key, value in expected.items():
        assert msgspec.to_builtins(getattr(event.data, key)) == value, f"{path.name}: data.{key}"
