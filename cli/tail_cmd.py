"""`vsmesh tail`: events as readable lines (or JSON lines), from history and, with --follow, live."""

from __future__ import annotations

import asyncio
import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import typer

from vsmesh.bus.subjects import entity_from_token  # stdlib only; used on every line
from vsmesh.cli.context import guarded, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from vsmesh.bus.reader import Start, StreamReader


class _View(msgspec.Struct):
    # What a tail line shows; read leniently so a bad event still prints.
    time: str = "?"
    type: str = "?"
    hub: str = "?"
    subject: str | None = None
    actor: str = "?"
    data: msgspec.Raw = msgspec.Raw(b"null")


@guarded  # --since and the filter are checked before run() could turn their errors into one line
def tail(
    subject_filter: str = typer.Argument(None, metavar="[SUBJECT_FILTER]", help="e.g. operational.ops-hub.>"),
    hub: str = typer.Option(None, "--hub", help="only this hub's events"),
    type_glob: str = typer.Option(None, "--type", help="only types matching this glob, e.g. 'ops-*'"),
    since: str = typer.Option(None, "--since", help="10m, 2h, 1d, or a stream sequence number"),
    follow: bool = typer.Option(False, "--follow/--no-follow", "-f", help="keep streaming new events"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Show events, one line each. Without --since: all history, or only new events with --follow."""
    settings = settings_from(data_dir)
    run(_tail(settings, _filter(subject_filter, hub), type_glob, _start(since, follow), follow, as_json))


def _filter(subject_filter: str | None, hub: str | None) -> str:
    if subject_filter and hub:
        raise ConfigError("give either SUBJECT_FILTER or --hub, not both")
    if hub:
        return f"*.{hub}.>"
    return subject_filter or ">"


def _start(since: str | None, follow: bool) -> Start:
    from vsmesh.bus.reader import Start

    return Start.since(since, follow=follow)


def _streams(subject_filter: str) -> list[str]:
    from vsmesh.bus.streams import HORIZON_STREAMS

    first = subject_filter.split(".", 1)[0]
    if first in ("*", ">"):
        return list(HORIZON_STREAMS)
    stream = first.upper()
    if stream not in HORIZON_STREAMS and stream != "QUARANTINE":
        raise ConfigError(f"{subject_filter!r} matches no stream; start it with a horizon, e.g. operational.>")
    return [stream]


def _stream_filter(stream: str, subject_filter: str) -> str:
    # A filter starting with a wildcard is narrowed to each stream's own horizon.
    head, _, rest = subject_filter.partition(".")
    if head in ("*", ">"):
        return f"{stream.lower()}.{rest}" if head == "*" and rest else f"{stream.lower()}.>"
    return subject_filter


def format_line(msg: Msg) -> str:
    """time  horizon  hub  type  entity  actor  data (shortened)."""
    try:
        v = msgspec.json.decode(msg.data, type=_View)
    except msgspec.DecodeError:
        return f"{'?':19}  {msg.subject}  (not a JSON event, {len(msg.data)} bytes)"
    horizon = msg.subject.split(".", 1)[0]
    tokens = msg.subject.split(".")
    entity = v.subject or (entity_from_token(tokens[3]) if len(tokens) > 3 else None) or "-"
    data = bytes(v.data).decode(errors="replace")
    if len(data) > 60:
        data = data[:57] + "..."
    return f"{v.time[:19]:19}  {horizon:12}  {v.hub:10}  {v.type:26}  {entity:28}  {v.actor:12}  {data}"


def _emit(msg: Msg, type_glob: str | None, as_json: bool) -> None:
    if type_glob:
        tokens = msg.subject.split(".")
        if len(tokens) < 3 or not fnmatch.fnmatchcase(tokens[2], type_glob):
            return
    typer.echo(_json_line(msg) if as_json else format_line(msg))


def _json_line(msg: Msg) -> str:
    """The stored event as it is; a payload that is not a JSON object is wrapped, so every line parses."""
    try:
        if isinstance(msgspec.json.decode(msg.data), dict):
            return msg.data.decode()
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    return msgspec.json.encode(
        {
            "invalid": "not a JSON event",
            "subject": msg.subject,
            "stream": msg.metadata.stream,
            "seq": msg.metadata.sequence.stream,
            "raw": msg.data.decode(errors="replace"),
        }
    ).decode()


async def _tail(
    settings: Settings, subject_filter: str, type_glob: str | None, start: Start, follow: bool, as_json: bool
) -> None:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.reader import StreamReader

    nc = await connect(settings, name="vsmesh-tail")
    js = nc.jetstream()
    try:
        readers = [StreamReader(js, s, _stream_filter(s, subject_filter), start) for s in _streams(subject_filter)]
        if not follow:
            history: list[Msg] = []
            for reader in readers:
                async with reader:
                    async for batch in reader.drain_to_head():
                        history.extend(batch)
            # Streams interleave by time; within a stream the sequence already orders them.
            history.sort(key=lambda m: m.metadata.timestamp)
            for msg in history:
                _emit(msg, type_glob, as_json)
            return
        await asyncio.gather(*(_follow(r, type_glob, as_json) for r in readers))
    finally:
        await nc.drain()


async def _follow(reader: StreamReader, type_glob: str | None, as_json: bool) -> None:
    async with reader:
        while True:
            for msg in await reader.batch(256, 0.0):
                _emit(msg, type_glob, as_json)
