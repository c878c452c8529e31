"""What a person reads: rich tables; what a script reads: JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table

console = Console()


def echo_json(value: Any) -> None:
    typer.echo(msgspec.json.encode(value, enc_hook=_enc).decode())


def _enc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else _cell(v) for v in r))
    return t


def _cell(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(v)
