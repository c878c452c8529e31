"""`vsmesh schema`: the event types this build knows, their data fields, and their JSON Schemas."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from vsmesh.cli.context import fail
from vsmesh.cli.options import Json
from vsmesh.cli.output import console, echo_json, table

schema_app = typer.Typer(help="Event types, their fields and JSON Schemas.", no_args_is_help=True)


class Format(enum.StrEnum):
    JSONSCHEMA = "jsonschema"


@schema_app.command("list")
def list_types(as_json: bool = Json) -> None:
    """Every event type with its family, horizon (stream) and current schema version."""
    from vsmesh.events.registry import REGISTRY

    rows = [_summary(t) for t in REGISTRY.types()]
    if as_json:
        echo_json(rows)
        return
    columns = ["type", "family", "horizon", "version"]
    console.print(table("event types", columns, [[r[c] for c in columns] for r in rows]))


@schema_app.command("show")
def show(
    event_type: str = typer.Argument(..., metavar="TYPE", help="event type, e.g. ops-endpoint-verified"),
    as_json: bool = Json,
) -> None:
    """The fields of a type's data (type, required or default); --json prints its JSON Schema."""
    from vsmesh.events.describe import data_fields, json_schema

    _check_known(event_type)
    if as_json:
        typer.echo(json.dumps(json_schema(event_type), indent=2))
        return
    info = _summary(event_type)
    console.print(
        f"[bold]{event_type}[/bold]  family {info['family']}, horizon {info['horizon']}, "
        f"version {info['version']} (reads {', '.join(f'v{v}' for v in info['reads_versions'])})"
    )
    rows = [
        # Escaped: rich would read `dict[str, any]` as markup and print `dict`.
        [f.name, escape(f.type), "required" if f.required else "optional", escape(_shown(f.default))]
        for f in data_fields(event_type)
    ]
    console.print(table("data", ["field", "type", "required", "default"], rows))


@schema_app.command("export")
def export(
    directory: Path = typer.Argument(..., metavar="DIR", help="where to write one file per event type"),
    fmt: Format = typer.Option(Format.JSONSCHEMA, "--format", help="the schema language"),
) -> None:
    """Write `<type>.schema.json` per event type: the whole CloudEvent with its typed data."""
    from vsmesh.events.describe import json_schema
    from vsmesh.events.registry import REGISTRY

    try:
        directory.mkdir(parents=True, exist_ok=True)
        for event_type in REGISTRY.types():
            path = directory / f"{event_type}.schema.json"
            path.write_text(json.dumps(json_schema(event_type), indent=2) + "\n")
    except OSError as e:
        raise fail(f"cannot write schemas to {directory}: {e.strerror}") from None
    typer.echo(f"wrote {len(REGISTRY.types())} {fmt.value} files to {directory}")


def _summary(event_type: str) -> dict[str, Any]:
    from vsmesh.events.registry import REGISTRY

    return {
        "type": event_type,
        "family": REGISTRY.family(event_type),
        "horizon": str(REGISTRY.horizon(event_type)),
        "version": REGISTRY.version(event_type),
        "reads_versions": REGISTRY.supported_versions(event_type),
    }


def _check_known(event_type: str) -> None:
    from vsmesh.events.registry import REGISTRY

    if event_type not in REGISTRY:
        raise fail(f"unknown event type {event_type!r}; see `vsmesh schema list` for the known types", code=2)


def _shown(default: Any) -> str:
    return "" if default is None else json.dumps(default, default=str)
