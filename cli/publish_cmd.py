"""`vsmesh publish`: one event from flags, or many from JSON lines on stdin (pipelined)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import typer

from vsmesh.cli.context import guarded, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.errors import InvalidEvent, PermissionDenied
from vsmesh.settings import Settings


@guarded
def publish(
    event_type: str = typer.Argument(..., metavar="TYPE", help="event type, e.g. ops-health-checked"),
    hub: str = typer.Option(..., "--hub", help="the hub the event belongs to, e.g. ops-hub"),
    subject: str = typer.Option(None, "--subject", help="the entity, e.g. service/gitea"),
    data: str = typer.Option("{}", "--data", help="JSON, @file, or - for JSON lines on stdin (one event each)"),
    actor: str = typer.Option(
        None, "--actor", help="signed in: only your own name; else who acts [env VSMESH_ACTOR; default: OS user]"
    ),
    actor_kind: str = typer.Option(
        None, "--actor-kind", help="signed in: only human; else human, agent or service [env VSMESH_ACTOR_KIND]"
    ),
    expect_seq: int = typer.Option(
        None, "--expect-seq", help="store only if the entity's last event is still at this sequence (0: none yet)"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Publish an event; prints its id and stream sequence.

    Signed in (`vsmesh login`), the gateway publishes it as you: --actor may only name you. Otherwise the CLI
    publishes on the mesh's own connection and refuses governance events, which need a signed-in person.
    """
    if data == "-":
        payloads = [_parse(line, f"stdin line {n}") for n, line in enumerate(sys.stdin, 1) if line.strip()]
    else:
        payloads = [_parse(_read(data), "--data")]
    started = time.perf_counter()
    signed_in = _person(data_dir, actor, actor_kind)
    if signed_in is not None:
        results = _through_gateway(*signed_in, event_type, hub, subject, payloads, expect_seq, many=data == "-")
    else:
        settings = settings_from(data_dir, actor=actor, actor_kind=actor_kind)
        results = run(_publish(settings, event_type, hub, subject, payloads, data == "-", expect_seq))
    _report(results, time.perf_counter() - started, as_json, many=data == "-")


def _person(data_dir: Path | None, actor: str | None, actor_kind: str | None):
    """(settings, session) of the signed-in person, whom --actor may only repeat; None when nobody signed in."""
    from vsmesh.cli.session import signed_in

    settings = settings_from(data_dir)
    session = signed_in(settings)
    if session is None:
        return None
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


async def _publish(
    settings: Settings,
    event_type: str,
    hub: str,
    subject: str | None,
    payloads: list[Any],
    many: bool,
    expect_seq: int | None = None,
) -> list:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.gateway.people import STEP_UP_TYPES
    from vsmesh.hubs.publishing import check_vocabulary

    if event_type in STEP_UP_TYPES:
        raise PermissionDenied(
            f"refused: publishing {event_type} is governance, which needs a signed-in person: run"
            " `vsmesh login --step-up` (the CLI then publishes through the gateway as you)"
        )
    nc = await connect(settings, name="vsmesh-publish")
    try:
        await check_vocabulary(nc, hub, event_type, payloads)
        publisher = Publisher(nc.jetstream(), settings)
        events = [publisher.build(event_type, hub=hub, subject=subject, data=p) for p in payloads]
        if len(events) == 1 and not many:
            return [await publisher.publish(events[0], expect_entity_seq=expect_seq)]
        return await publisher.publish_many(events)
    finally:
        await nc.drain()


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
