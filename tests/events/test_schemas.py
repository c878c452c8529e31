"""Every family's schemas: registered, tagged with their CloudEvents type, on the right horizon, round-tripping."""

import typing

import msgspec
import pytest

from tests.events.samples import FAMILY_MODULES, SAMPLE_DATA, coded_registry, envelope, sample_event
from vsmesh.errors import InvalidEvent
from vsmesh.events import Horizon, decode_event, encode_event
from vsmesh.events.envelope import EventData
from vsmesh.events.schemas.ops import EndpointVerifiedData

REGISTRY = coded_registry()

HORIZONS = {
    "hub": Horizon.CONSTITUTIONAL,
    "ops": Horizon.OPERATIONAL,
    "risk": Horizon.TACTICAL,
    "alert": Horizon.OPERATIONAL,
    "dev": Horizon.TACTICAL,
    "fin": Horizon.STRATEGIC,
    "canon": Horizon.CONSTITUTIONAL,
    "core": Horizon.TACTICAL,
    "sec": Horizon.TACTICAL,
    "legal": Horizon.STRATEGIC,  # a record of processing outlives its two-year audit window
    "rollup": Horizon.TACTICAL,  # operational days, kept after their events age out
    "aud": Horizon.CONSTITUTIONAL,  # the audit reports to canon
    "notification": Horizon.OPERATIONAL,  # who was told, what a silence held back: hours to days
}
FAMILY_NAMES = [getattr(m, "FAMILY", m.__name__.rsplit(".", 1)[-1]) for m in FAMILY_MODULES]


def types_of(family: str) -> list[str]:
    return [t for t in REGISTRY.types() if REGISTRY.family(t) == family]


def test_every_family_is_registered_and_has_types():
    assert sorted(FAMILY_NAMES) == sorted(HORIZONS)
    for family in FAMILY_NAMES:
        assert types_of(family), f"family {family} defines no event type"


@pytest.mark.parametrize("event_type", REGISTRY.types())
def test_type_is_tagged_explicitly_and_fully_declared(event_type):
    cls = REGISTRY[event_type]
    # The stored name is the explicit tag, equal to the CloudEvents type, never the class name.
    assert cls.__struct_config__.tag == event_type
    assert cls.__struct_config__.tag_field == "type"
    assert event_type.islower() and " " not in event_type and "_" not in event_type
    # A family's types carry the family's prefix, except the shared hub core and the registry family.
    family = REGISTRY.family(event_type)
    if family not in ("core", "hub"):
        assert event_type.startswith(f"{family}-")
    assert cls.horizon == HORIZONS[family]
    assert isinstance(cls.version, int) and cls.version >= 1
    # `data` is narrowed to the type's own EventData, which keeps `metadata`.
    data_type = typing.get_type_hints(cls)["data"]
    assert issubclass(data_type, EventData) and data_type is not EventData
    assert "metadata" in data_type.__struct_fields__


def test_every_type_has_a_sample():
    assert sorted(SAMPLE_DATA) == REGISTRY.types()


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_round_trips_through_json(family):
    for event_type in types_of(family):
        event = sample_event(event_type)
        payload = encode_event(event)
        back = decode_event(payload)
        # Same class, same values; and the JSON on the wire keeps the type and every data value given.
        assert type(back) is type(event) and back == event, event_type
        wire = msgspec.json.decode(payload)
        assert wire["type"] == event_type
        for key, value in SAMPLE_DATA[event_type].items():
            assert wire["data"][key] == value, f"{event_type}.data.{key}"


def test_metadata_travels_with_every_type():
    for event_type in REGISTRY.types():
        raw = envelope(event_type, data={**SAMPLE_DATA[event_type], "metadata": {"vsmFunction": "OPS"}})
        assert decode_event(msgspec.json.encode(raw)).data.metadata == {"vsmFunction": "OPS"}, event_type


def test_money_is_exact_and_needs_a_currency():
    event = sample_event("fin-token-spend-recorded")
    # A sub-cent price stays exact and goes out as a decimal string.
    assert str(event.data.cost.amount) == "0.00042"
    assert b'"amount":"0.00042"' in encode_event(event)
    bad = envelope("fin-cost-recorded", data={"amount": {"amount": "18.20", "currency": "euro"}})
    with pytest.raises(InvalidEvent, match=r"\$\.data\.amount\.currency"):
        decode_event(msgspec.json.encode(bad))


def test_required_fields_are_named_when_missing():
    bad = envelope("ops-endpoint-verified", data={"endpoint": "https://gitea.coulomb.social/v2/"})
    with pytest.raises(InvalidEvent, match="expected_status.*\\$\\.data"):
        decode_event(msgspec.json.encode(bad))


def test_optional_fields_may_be_left_out():
    # Only what makes the event meaningful is required; the rest takes its default.
    event = decode_event(msgspec.json.encode(envelope("message-read", data={"message_id": "m-1"})))
    assert event.data.message_id == "m-1" and event.data.metadata == {}


def test_endpoint_verification_passes_only_with_status_and_headers():
    sample = SAMPLE_DATA["ops-endpoint-verified"]
    data = msgspec.convert(sample, EndpointVerifiedData)
    assert data.passed  # header names compare case-insensitively
    assert not msgspec.structs.replace(data, observed_status=404).passed
    assert not msgspec.structs.replace(data, observed_headers={}).passed
    assert not msgspec.structs.replace(data, observed_status=None, error="connection refused").passed
