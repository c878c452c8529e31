"""`vsmesh publish`: one event from flags, or many from JSON lines on stdin (pipelined)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import typer

from vsmesh.cli.context import guarded, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.errors import InvalidEvent, PermissionDenied


@guarded
def publish(
    event_type: str = typer.Argument(..., metavar="TYPE", help="event type, e.g. ops-health-checked"),
    hub: str = typer.Option(..., "--hub", help="the hub the event belongs to, e.g. ops-hub"),
    subject: str = typer.Option(None, "--subject", help="the entity, e.g. service/gitea"),
    data: str = typer.Option("{}", "--data", help="JSON, @file, or - for JSON lines on stdin (one event each)"),
    actor: str = typer.Option(None, "--actor", help="only your own name: the gateway publishes as who signed in"),
    actor_kind: str = typer.Option(None, "--actor-kind", help="only human: a person publishes here"),
    expect_seq: int = typer.Option(
        None, "--expect-seq", help="store only if the entity's last event is still at this sequence (0: none yet)"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Publish an event; prints its id and stream sequence.

    The gateway publishes it as the signed-in person (`vsmesh login`): --actor may only name you. Nobody signed
    in, nothing is published (services publish with their own credentials, agents through MCP).
    """
    settings, session = _person(data_dir, event_type, actor, actor_kind)
    if data == "-":
        payloads = [_parse(line, f"stdin line {n}") for n, line in enumerate(sys.stdin, 1) if line.strip()]
    else:
        payloads = [_parse(_read(data), "--data")]
    started = time.perf_counter()
    results = _through_gateway(settings, session, event_type, hub, subject, payloads, expect_seq, many=data == "-")
    _report(results, time.perf_counter() - started, as_json, many=data == "-")


def _person(data_dir: Path | None, event_type: str, actor: str | None, actor_kind: str | None):
    """(settings, session) of the signed-in person, whom --actor may only repeat; nobody signed in, refused here
    (a governance event naming the step-up)."""
    from vsmesh.cli.session import person
    from vsmesh.gateway.people import STEP_UP_TYPES

    settings = settings_from(data_dir)
    session = person(settings, f"publishing {event_type}", governance=event_type in STEP_UP_TYPES)
    if actor not in (None, session.subject) or actor_kind not in (None, "human"):
        raise PermissionDenied(
            f"signed in as {session.subject}, you publish as {session.subject} (human): drop --actor and"
            " --actor-kind, or `vsmesh logout` and sign in as that person"
        )
    return settings, session


def _through_gateway(settings, session, event_type, hub, subject, payloads, expect_seq, *, many: bool):
    from vsmesh.bus.publisher import Published
    from vsmesh.cli.session import call_gateway

    body = {"type": event_type, "hub": hub, "subject": subject, "data": payloads, "expect_seq": expect_seq}
    answer = call_gateway(settings, session, "/people/publish", {**body, "many": many})
    return [msgspec.convert(r, Published) for r in answer["results"]]


def _report(results, elapsed: float, as_json: bool, *, many: bool) -> None:
    if as_json:
        for r in results:
            typer.echo(
                msgspec.json.encode(
                    {"id": r.event_id, "stream": r.stream, "seq": r.sequence, "duplicate": r.duplicate}
                ).decode()
            )
    elif len(results) == 1 and not many:
        r = results[0]
        typer.echo(f"{r.event_id} {r.stream} seq {r.sequence}" + (" (duplicate)" if r.duplicate else ""))
    else:
        dups = sum(r.duplicate for r in results)
        rate = len(results) / elapsed if elapsed else 0.0
        typer.echo(f"published {len(results)} events ({dups} duplicates) in {elapsed:.2f} s, {rate:,.0f} ev/s")


def _read(data: str) -> str:
    if data.startswith("@"):
        path = Path(data[1:])
        try:
            return path.read_text()
        except OSError as e:
            raise InvalidEvent(f"cannot read --data file {path}: {e.strerror}") from e
    return data


def _parse(text: str, where: str) -> Any:
    try:
        return msgspec.json.decode(text.encode() if isinstance(text, str) else text)
    except msgspec.DecodeError as e:
        raise InvalidEvent(f'{where} is not valid JSON ({e}); pass an object like \'{{"status":"green"}}\'') from e
