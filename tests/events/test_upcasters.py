"""Upcasting: old schema versions read as the current one, chained step by step; unsupported versions refused."""

import types
from typing import ClassVar, Literal, get_args

import msgspec
import pytest

from tests.events.samples import envelope
from vsmesh.errors import InvalidEvent
from vsmesh.events import Event, Horizon, decode_event
from vsmesh.events.envelope import EventData
from vsmesh.events.registry import REGISTRY, EventRegistry
from vsmesh.events.schemas.ops import InventoryKind
from vsmesh.events.upcasters import _INVENTORY_KINDS_V2, Upcasters, upcast_ops_inventory_registered_v1_v2


def encoded(event_type: str, version: int | None, data: dict) -> bytes:
    raw = envelope(event_type, data=data, schemaversion=version)
    if version is None:
        del raw["schemaversion"]
    return msgspec.json.encode(raw)


# A family of our own at v3, so the chain is seen taking more than one step, in order.
class GaugeReadData(EventData, frozen=True):
    value_milli: int
    unit: Literal["volt", "ampere"]


class GaugeRead(Event, frozen=True, tag="test-gauge-read"):
    data: GaugeReadData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
    version: ClassVar[int] = 3


def gauge_registry(steps: dict[int, object]) -> EventRegistry:
    upcasters = Upcasters()
    for from_version, fn in steps.items():
        upcasters.step("test-gauge-read", from_version)(fn)
    family = types.ModuleType("gauges")
    family.GaugeRead = GaugeRead
    return EventRegistry([family], upcasters=upcasters)


def gauge_v1_v2(event: dict) -> dict:
    # v1 `value` (whole units) → v2 `value_milli`
    data = dict(event["data"])
    data["value_milli"] = data.pop("value") * 1000
    return {**event, "data": data}


def gauge_v2_v3(event: dict) -> dict:
    # v2 unit symbols → v3 unit names
    data = dict(event["data"])
    data["unit"] = {"V": "volt", "A": "ampere"}[data["unit"]]
    return {**event, "data": data}


def gauge_payload(version: int, data: dict) -> bytes:
    return msgspec.json.encode(
        {**envelope("ops-health-checked"), "type": "test-gauge-read", "schemaversion": version, "data": data}
    )


def test_the_loader_chains_every_step_up_to_the_current_version():
    registry = gauge_registry({1: gauge_v1_v2, 2: gauge_v2_v3})
    v1 = decode_event(gauge_payload(1, {"value": 3, "unit": "V", "metadata": {"m": 1}}), registry)
    v2 = decode_event(gauge_payload(2, {"value_milli": 3000, "unit": "V"}), registry)
    v3 = decode_event(gauge_payload(3, {"value_milli": 3000, "unit": "volt"}), registry)
    # All three read as v3 with the same value; metadata survives the steps.
    assert v1.data.value_milli == v2.data.value_milli == v3.data.value_milli == 3000
    assert v1.data.unit == v2.data.unit == "volt"
    assert v1.schemaversion == v2.schemaversion == 3
    assert v1.data.metadata == {"m": 1}
    assert registry.supported_versions("test-gauge-read") == [1, 2, 3]


def test_a_version_without_a_chain_is_refused_with_the_supported_versions():
    registry = gauge_registry({2: gauge_v2_v3})  # v1 support dropped: no 1→2 step
    refused = r"schemaversion 1 of test-gauge-read .*reads v2, v3; no upcaster leads from v1"
    with pytest.raises(InvalidEvent, match=refused):
        decode_event(gauge_payload(1, {"value": 3, "unit": "V"}), registry)


def test_a_gap_in_a_chain_fails_at_start_up():
    with pytest.raises(TypeError, match="does not reach the current v3"):
        gauge_registry({1: gauge_v1_v2})


def test_an_upcaster_for_an_unknown_type_fails_at_start_up():
    upcasters = Upcasters()
    upcasters.step("ops-teleported", 1)(gauge_v1_v2)
    with pytest.raises(TypeError, match="unknown event type 'ops-teleported'"):
        upcasters.check({t: REGISTRY.version(t) for t in REGISTRY.types()})


def test_a_step_cannot_be_registered_twice():
    upcasters = Upcasters()
    upcasters.step("test-gauge-read", 1)(gauge_v1_v2)
    with pytest.raises(TypeError, match="two upcasters"):
        upcasters.step("test-gauge-read", 1)(gauge_v1_v2)


@pytest.mark.parametrize(
    ("written", "kind", "detail"),
    [
        ("service", "service", None),
        ("ops-service", "service", None),  # a dashboard widget type name, as v1 publishers wrote them
        ("Service", "service", None),
        ("OPS_BACKUP_SET", "backup-set", None),
        ("k8s", "cluster", None),
        ("database", "datastore", None),
        ("object store", "other", "object store"),
    ],
)
def test_inventory_v1_kinds_become_the_v2_vocabulary(written, kind, detail):
    event = decode_event(encoded("ops-inventory-registered", 1, {"kind": written, "name": "x", "owner": "rail"}))
    assert (event.data.kind, event.data.kind_detail) == (kind, detail)
    assert event.data.owner == "rail" and event.schemaversion == 2


def test_absent_schemaversion_means_v1():
    event = decode_event(encoded("ops-inventory-registered", None, {"kind": "ops-host", "name": "railiance01"}))
    assert event.data.kind == "host" and event.schemaversion == 2


def test_a_v2_event_is_not_upcast():
    # v2 is read as written: an `ops-` kind is a v1 habit and wrong at v2.
    with pytest.raises(InvalidEvent, match=r"\$\.data\.kind"):
        decode_event(encoded("ops-inventory-registered", 2, {"kind": "ops-service", "name": "x"}))


def test_an_upcast_event_that_still_fails_says_which_versions():
    with pytest.raises(InvalidEvent, match=r"stored as v1, read as v2\): Object missing required field `name`"):
        decode_event(encoded("ops-inventory-registered", 1, {"kind": "service"}))


def test_the_step_leaves_a_malformed_v1_event_for_the_schema_to_explain():
    broken = {"type": "ops-inventory-registered", "data": {"kind": 7}}
    assert upcast_ops_inventory_registered_v1_v2(broken) == broken
    with pytest.raises(InvalidEvent, match=r"Expected `str`, got `int` - at `\$\.data\.kind`"):
        decode_event(encoded("ops-inventory-registered", 1, {"kind": 7, "name": "x"}))


def test_the_v1_v2_step_targets_exactly_the_v2_vocabulary():
    # The step keeps its own frozen copy; while v2 is current, it must equal the schema's.
    assert REGISTRY.version("ops-inventory-registered") == 2
    assert set(get_args(InventoryKind)) == _INVENTORY_KINDS_V2


@pytest.mark.parametrize(
    ("event_type", "version", "message"),
    [
        ("ops-inventory-registered", 3, r"schemaversion 3 of ops-inventory-registered .*reads v1, v2; upgrade vsmesh"),
        ("ops-health-checked", 2, r"schemaversion 2 of ops-health-checked .*reads v1; upgrade vsmesh"),
        ("ops-health-checked", 0, r"schemaversion 0 of ops-health-checked .*reads v1; no upcaster leads from v0"),
    ],
)
def test_unsupported_versions_are_refused_in_one_line(event_type, version, message):
    data = {"kind": "service", "name": "x"} if event_type == "ops-inventory-registered" else {"status": "green"}
    with pytest.raises(InvalidEvent, match=message) as caught:
        decode_event(encoded(event_type, version, data))
    assert "\n" not in str(caught.value)
    assert f"sample-{event_type}" in str(caught.value)  # names the event


def test_a_schemaversion_that_is_no_integer_is_named():
    with pytest.raises(InvalidEvent, match=r"\$\.schemaversion"):
        decode_event(encoded("ops-health-checked", "2", {"status": "green"}))
