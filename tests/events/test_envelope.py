"""The envelope: CloudEvents attributes, typed data, clear errors."""

import msgspec
import pytest

from vsmesh.errors import InvalidEvent, UnknownEventType
from vsmesh.events import REGISTRY, decode_event, encode_event
from vsmesh.events.schemas.ops import OpsHealthChecked

GOLDEN_V1 = (
    b'{"specversion":"1.0","id":"e-1","source":"vsmesh/cli","type":"ops-health-checked",'
    b'"subject":"service/gitea","time":"2026-11-23T10:00:00Z","datacontenttype":"application/json",'
    b'"hub":"ops-hub","actor":"ada","actorkind":"human","schemaversion":1,'
    b'"data":{"status":"green","metadata":{"probe":"http"}},"tenant":"kept-in-log"}'
)


def test_golden_v1_event_decodes_to_its_type_with_metadata():
    event = decode_event(GOLDEN_V1)
    # The tag is the CloudEvents type; metadata is kept, not dropped.
    assert isinstance(event, OpsHealthChecked)
    assert event.type == "ops-health-checked"
    assert event.data.status == "green"
    assert event.data.metadata == {"probe": "http"}


def test_encoded_event_is_structured_cloudevents_json():
    event = decode_event(GOLDEN_V1)
    as_json = msgspec.json.decode(encode_event(event))
    assert as_json["specversion"] == "1.0"
    assert as_json["type"] == "ops-health-checked"
    for attribute in ("id", "source", "time", "hub", "actor", "actorkind", "data"):
        assert attribute in as_json
    # Unset optional attributes are omitted rather than sent as null.
    assert "dataschema" not in as_json


def test_unknown_type_is_named():
    with pytest.raises(UnknownEventType, match="'ops-teleported'.*vsmesh schema list"):
        decode_event(GOLDEN_V1.replace(b"ops-health-checked", b"ops-teleported"))


def test_wrong_data_shape_names_the_path():
    with pytest.raises(InvalidEvent, match=r"\$\.data\.status"):
        decode_event(GOLDEN_V1.replace(b'"green"', b'"blue"'))


def test_malformed_json_is_refused():
    with pytest.raises(InvalidEvent, match="not a JSON event"):
        decode_event(b"{not json")


def test_registry_knows_the_first_schemas_and_their_horizons():
    assert {"ops-inventory-registered", "ops-health-checked", "alert-raised"} <= set(REGISTRY.types())
    assert REGISTRY.horizon("ops-health-checked") == "operational"
