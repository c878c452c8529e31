"""`vsmesh call HUB OPERATION key=value …`: any operation of any hub's contract from a terminal, as an agent calls
it over MCP (its tool `HUB__OPERATION`) — so whatever a mandate lets an agent do, a person can do here too.

A write goes through the gateway as the signed-in person (`vsmesh login`) and prints the stored event's id and
sequence; a read prints its answer. Values are JSON where they parse as JSON (`desired=3`,
`blocking='["repo/x"]'`), text otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import ask_hub, fail, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, show_table


def _arguments(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"expected key=value, got {pair!r} (e.g. entity=service/gitea)")
        try:
            found[key] = json.loads(value)
        except json.JSONDecodeError:
            found[key] = value
    return found


def call(
    hub: str = typer.Argument(..., metavar="HUB", help="a hub slug, e.g. ops-hub"),
    operation: str = typer.Argument(None, metavar="OPERATION", help="e.g. close_debt; none: list the hub's"),
    pairs: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="the request's fields"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Call one operation of a hub's contract (a write: through the gateway as the signed-in person); without
    OPERATION, list the hub's operations."""
    from vsmesh.hubs.operations import operations_of

    operations = {op.name: op for op in operations_of(hub)}
    if operation is None:
        rows = [[op.name, "write" if op.writes else "read", op.description] for op in operations.values()]
        if as_json:
            echo_json([dict(zip(("operation", "kind", "what"), row, strict=True)) for row in rows])
            return
        columns = ["operation", "kind", "what"]
        show_table(f"{hub} operations", columns, rows, keep=columns, wide=False, whole=["operation"])
        return
    op = operations.get(operation)
    if op is None:
        raise fail(f"{hub} has no operation {operation!r}; `vsmesh call {hub}` lists them")
    settings = settings_from(data_dir)
    request = _arguments(pairs or [])
    answer = run(ask_hub(settings, hub, operation, request))
    if as_json:
        echo_json(answer)
    elif op.writes and isinstance(answer, dict) and "id" in answer:
        console.print(f"{hub} {operation}: event [bold]{answer['id']}[/] ({answer['stream']} #{answer['seq']})")
    else:
        console.print_json(data=answer, default=str)
