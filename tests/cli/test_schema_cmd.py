"""`vsmesh schema`: list, show and export the event schemas this build knows (no server needed)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vsmesh.cli.app import app
from vsmesh.events import REGISTRY
from vsmesh.events.registry import EventRegistry
from vsmesh.events.schemas import FAMILIES

JSON_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
ENVELOPE_REQUIRED = {"type", "specversion", "id", "source", "time", "hub", "actor", "actorkind", "data"}


def vsmesh(*args: str):
    result = CliRunner().invoke(app, ["schema", *args], catch_exceptions=False)
    return result


def walk(node):
    """Every dict inside a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def check_well_formed(schema: dict) -> None:
    """What a JSON Schema validator would reject first: unresolved refs, unknown types, required but undeclared."""
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    for node in walk(schema):
        ref = node.get("$ref")
        if ref is not None:
            assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs, ref
        if isinstance(node.get("type"), str):
            assert node["type"] in JSON_TYPES, node
        if "required" in node:
            assert set(node["required"]) <= set(node["properties"]), node


def definition(schema: dict, ref: str | None = None) -> dict:
    return schema["$defs"][(ref or schema["$ref"]).removeprefix("#/$defs/")]


def test_list_shows_every_type_with_family_horizon_and_version():
    result = vsmesh("list")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "ops-inventory-registered" in line]
    assert len(lines) == 1 and "ops" in lines[0] and "operational" in lines[0] and "2" in lines[0]
    for event_type in REGISTRY.types():
        assert event_type in result.stdout


def test_list_json_is_for_scripts():
    rows = json.loads(vsmesh("list", "--json").stdout)
    by_type = {r["type"]: r for r in rows}
    assert set(by_type) == set(REGISTRY.types())
    assert by_type["fin-runway-projected"] == {
        "type": "fin-runway-projected",
        "family": "fin",
        "horizon": "strategic",
        "version": 1,
        "reads_versions": [1],
    }
    assert by_type["ops-inventory-registered"]["reads_versions"] == [1, 2]


def test_show_lists_the_data_fields_with_types_and_whether_required():
    result = vsmesh("show", "ops-endpoint-verified")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert "required" in rows["endpoint"] and "str" in rows["endpoint"]
    assert "required" in rows["expected_status"] and "int" in rows["expected_status"]
    assert "optional" in rows["observed_headers"] and "dict[str, str]" in rows["observed_headers"]
    assert "optional" in rows["method"] and '"GET"' in rows["method"]


def test_show_names_nested_money_fields():
    result = vsmesh("show", "fin-runway-projected")
    assert "balance.amount" in result.stdout and "balance.currency" in result.stdout


def test_show_json_is_the_json_schema():
    schema = json.loads(vsmesh("show", "alert-raised", "--json").stdout)
    check_well_formed(schema)
    assert schema["title"] == "alert-raised"
    data = definition(schema, definition(schema)["properties"]["data"]["$ref"])
    assert data["required"] == ["title"]


def test_show_refuses_an_unknown_type():
    result = vsmesh("show", "ops-teleported")
    assert result.exit_code == 2
    assert "unknown event type 'ops-teleported'" in result.output


def test_export_writes_one_valid_json_schema_per_type(tmp_path: Path):
    out = tmp_path / "schemas"
    result = vsmesh("export", "--format", "jsonschema", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.schema.json"))
    assert [f.name.removesuffix(".schema.json") for f in files] == REGISTRY.types()
    # The coded types: the process-wide registry may also hold types a manifest hub declared without a
    # schema (learned by whichever test ran a registry first), whose data is free-form.
    coded = set(EventRegistry(FAMILIES).types())
    for path in (f for f in files if f.name.removesuffix(".schema.json") in coded):
        schema = json.loads(path.read_text())
        check_well_formed(schema)
        event = definition(schema)
        # The whole CloudEvent: its attributes are required, its type is fixed to this one.
        assert ENVELOPE_REQUIRED <= set(event["required"]), path.name
        assert event["properties"]["type"] == {"enum": [schema["title"]]}
        assert schema["x-vsmesh"]["horizon"] == str(REGISTRY.horizon(schema["title"]))


@pytest.mark.parametrize(
    ("event_type", "required"),
    [
        ("ops-endpoint-verified", {"endpoint", "expected_status"}),
        ("fin-runway-projected", {"balance", "monthly_burn", "months_remaining"}),
        ("risk-accepted", {"risk_id", "rationale"}),
        ("hub-manifest-activated", {"slug", "event_types"}),
    ],
)
def test_exported_data_requires_exactly_what_the_event_needs(tmp_path: Path, event_type: str, required: set[str]):
    vsmesh("export", str(tmp_path))
    schema = json.loads((tmp_path / f"{event_type}.schema.json").read_text())
    data = definition(schema, definition(schema)["properties"]["data"]["$ref"])
    assert set(data["required"]) == required
    assert "metadata" in data["properties"]


def test_a_later_version_pins_schemaversion(tmp_path: Path):
    vsmesh("export", str(tmp_path))
    schema = json.loads((tmp_path / "ops-inventory-registered.schema.json").read_text())
    event = definition(schema)
    # Absent means v1, so a v2 event must say it is v2.
    assert event["properties"]["schemaversion"] == {"type": "integer", "const": 2}
    assert "schemaversion" in event["required"]
    assert schema["$id"] == "urn:vsmesh:event:ops-inventory-registered:v2"


def test_export_refuses_an_unknown_format(tmp_path: Path):
    result = CliRunner().invoke(app, ["schema", "export", "--format", "avro", str(tmp_path)])
    assert result.exit_code == 2
    assert "avro" in result.output
