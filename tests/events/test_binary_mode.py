"""CloudEvents binary content mode: attributes in `ce-` headers, data in the body; structured mode otherwise."""

import uuid

import msgspec
import pytest

from tests.events.samples import SAMPLE_DATA, envelope
from vsmesh.bus.connection import connect
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import InvalidEvent, UnknownEventType
from vsmesh.events import decode_event, decode_message
from vsmesh.events.schemas.ops import OpsHealthChecked, OpsInventoryRegistered


def binary_headers(event_type: str = "ops-health-checked", **overrides: str) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "probe/http",
        "ce-type": event_type,
        "ce-subject": "service/gitea",
        "ce-time": "2026-11-23T10:00:00Z",
        "ce-hub": "ops-hub",
        "ce-actor": "probe",
        "ce-actorkind": "service",
        "ce-datacontenttype": "application/json",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v}


def test_binary_mode_builds_the_event_from_headers_and_body():
    event = decode_message(b'{"status":"red","metadata":{"probe":"http"}}', binary_headers(**{"ce-correlationid": "c"}))
    assert isinstance(event, OpsHealthChecked)
    assert (event.id, event.source, event.subject, event.actor) == ("b-1", "probe/http", "service/gitea", "probe")
    assert event.correlationid == "c" and event.data.status == "red"
    assert event.data.metadata == {"probe": "http"}


def test_binary_mode_reads_the_same_event_as_structured_mode():
    body = msgspec.json.encode(SAMPLE_DATA["ops-endpoint-verified"])
    headers = binary_headers("ops-endpoint-verified", **{"ce-id": "sample-ops-endpoint-verified"})
    headers["ce-source"] = "vsmesh/tests"
    headers["ce-actor"], headers["ce-actorkind"] = "ada", "human"
    structured = decode_event(msgspec.json.encode(envelope("ops-endpoint-verified")))
    assert decode_message(body, headers) == structured


def test_header_names_are_case_insensitive_and_values_percent_decoded():
    headers = {k.upper(): v for k, v in binary_headers().items()}
    headers["CE-SUBJECT"] = "endpoint/gitea%2Ecoulomb%2Esocial%20v2"
    headers["Ce-Actor"] = "J%C3%BCrgen"
    event = decode_message(b'{"status":"green"}', headers)
    assert event.subject == "endpoint/gitea.coulomb.social v2"
    assert event.actor == "Jürgen"


def test_quoted_header_values_are_unquoted_first():
    # Older senders quoted values instead of percent-encoding spaces (binding spec, 3.1.3.2).
    event = decode_message(b'{"status":"green"}', binary_headers(**{"ce-actor": '"Ada \\"the\\" Lovelace"'}))
    assert event.actor == 'Ada "the" Lovelace'


def test_invalid_utf8_in_a_header_is_refused():
    with pytest.raises(InvalidEvent, match="header ce-actor is not percent-encoded UTF-8"):
        decode_message(b'{"status":"green"}', binary_headers(**{"ce-actor": "%C0%A0"}))


@pytest.mark.parametrize("missing", ["ce-source", "ce-time", "ce-hub", "ce-actor", "ce-actorkind", "ce-id"])
def test_a_missing_required_header_is_named(missing):
    headers = binary_headers(**{missing: ""})
    with pytest.raises(InvalidEvent, match=f"binary-mode .*lacks header {missing}; binary mode carries"):
        decode_message(b'{"status":"green"}', headers)


def test_several_missing_headers_are_named_together():
    with pytest.raises(InvalidEvent, match="lacks header ce-id, ce-source"):
        decode_message(b"{}", binary_headers(**{"ce-id": "", "ce-source": ""}))


def test_a_missing_type_is_named():
    with pytest.raises(InvalidEvent, match="lacks header ce-type"):
        decode_message(b"{}", binary_headers(**{"ce-type": ""}))


def test_an_unknown_type_is_named_as_in_structured_mode():
    with pytest.raises(UnknownEventType, match="'ops-teleported'.*vsmesh schema list"):
        decode_message(b"{}", binary_headers("ops-teleported"))


def test_wrong_data_names_the_path_as_in_structured_mode():
    with pytest.raises(InvalidEvent, match=r"invalid ops-health-checked event b-1: .*\$\.data\.status"):
        decode_message(b'{"status":"blue"}', binary_headers())


def test_a_body_that_is_not_json_is_refused():
    with pytest.raises(InvalidEvent, match="ops-health-checked event b-1: the body is not JSON"):
        decode_message(b"status=green", binary_headers())


def test_non_json_data_is_refused_with_its_content_type():
    with pytest.raises(InvalidEvent, match="datacontenttype 'text/plain'; vsmesh event data is JSON"):
        decode_message(b"green", binary_headers(**{"ce-datacontenttype": "text/plain"}))


def test_content_type_stands_in_for_datacontenttype():
    # HTTP-binding style senders (the CloudEvents SDKs) put datacontenttype in Content-Type.
    headers = binary_headers(**{"ce-datacontenttype": ""})
    headers["content-type"] = "application/vnd.vsmesh+json; charset=utf-8"
    event = decode_message(b'{"status":"green"}', headers)
    assert event.datacontenttype == "application/vnd.vsmesh+json; charset=utf-8"


def test_an_empty_body_is_empty_data():
    # A type whose data fields are all optional needs no body; one with required fields says which.
    event = decode_message(b"", binary_headers("ops-inventory-retired"))
    assert event.data.reason is None and event.data.metadata == {}
    with pytest.raises(InvalidEvent, match=r"missing required field `message_id` - at `\$\.data`"):
        decode_message(b"", binary_headers("message-read"))


def test_older_versions_are_upcast_in_binary_mode_too():
    headers = binary_headers("ops-inventory-registered", **{"ce-schemaversion": "1"})
    event = decode_message(b'{"kind":"ops-service","name":"gitea"}', headers)
    assert isinstance(event, OpsInventoryRegistered)
    assert event.data.kind == "service" and event.schemaversion == 2


def test_a_schemaversion_header_must_be_an_integer():
    with pytest.raises(InvalidEvent, match="ce-schemaversion must be an integer, got 'one'"):
        decode_message(b"{}", binary_headers(**{"ce-schemaversion": "one"}))


def test_without_ce_specversion_the_message_is_structured():
    payload = msgspec.json.encode(envelope("ops-health-checked"))
    # JetStream's own headers do not make a message binary.
    for headers in (None, {}, {"Nats-Msg-Id": "x", "content-type": "application/cloudevents+json"}):
        assert decode_message(payload, headers) == decode_event(payload)


async def test_a_binary_mode_message_round_trips_through_a_real_stream(settings):
    nc = await connect(settings)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        name = f"bin-{uuid.uuid4().hex[:6]}"
        headers = binary_headers(**{"ce-subject": f"service/{name}", "ce-id": str(uuid.uuid4())})
        headers["Nats-Msg-Id"] = headers["ce-id"]
        ack = await js.publish(
            f"operational.ops-hub.ops-health-checked.service:{name}", b'{"status":"amber"}', headers=headers
        )
        msg = await js.get_msg("OPERATIONAL", ack.seq)
    finally:
        await nc.close()
    # What the server hands back (its headers included) decodes to the event that was sent.
    event = decode_message(msg.data, msg.headers)
    assert event.subject == f"service/{name}" and event.data.status == "amber"
