"""What a person reads: rich tables; what a script reads: JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vsmesh.durations import format_duration as duration  # noqa: F401 - what the commands format with

console = Console()


def echo_json(value: Any) -> None:
    typer.echo(msgspec.json.encode(value, enc_hook=_enc).decode())


def _enc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def table(title: str, columns: list[str], rows: list[list[Any]], *, whole: Iterable[str] = ()) -> Table:
    """`whole`: the columns a person reads or copies as they are (names, ids), never folded nor cut; any other
    cell wraps, a word wider than its column folded rather than cut to `…`."""
    whole = set(whole)
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, no_wrap=c in whole, overflow="ellipsis" if c in whole else "fold")
    for r in rows:
        t.add_row(*("" if v is None else _cell(v) for v in r))
    return t


def show_table(
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    *,
    keep: list[str],
    wide: bool,
    whole: Iterable[str] = (),
) -> None:
    """The table with only the `keep` columns, which fit an 80-column terminal, its caption naming what `--wide`
    adds; with `wide`, every column at full width."""
    if wide:
        show(table(title, columns, rows, whole=whole), wide=True)
        return
    at = [columns.index(c) for c in keep]
    shown = table(title, keep, [[r[i] for i in at] for r in rows], whole=whole)
    shown.caption = "--wide adds: " + ", ".join(c for c in columns if c not in keep)
    shown.caption_justify = "left"
    show(shown)


def show(shown: Table, *, wide: bool = False) -> None:
    """A table within the terminal's width; `wide`: at the width its cells ask for, lines running past a
    narrow terminal rather than folded or cut (`| less -S` reads them)."""
    if not wide:
        console.print(shown)
        return
    needed = console.measure(shown, options=console.options.update_width(100_000)).maximum
    Console(width=max(needed, console.width)).print(shown)


def last_errors(named: Iterable[tuple[str, str | None]]) -> None:
    """Each (name, last error) in full under its table, where a column of them would fold every row."""
    for name, error in named:
        if error:
            console.print(Text.assemble((name, "bold red"), " last error: ", error))


def size(n: int) -> str:
    """Bytes as `39 kB`, `1.2 GB`."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def _cell(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(v)
