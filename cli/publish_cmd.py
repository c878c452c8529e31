"""`vsmesh publish`: one event from flags, or many from JSON lines on stdin (pipelined)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.errors import ContractError, InvalidEvent, UnknownEventType
from vsmesh.settings import Settings


def publish(
    event_type: str = typer.Argument(..., metavar="TYPE", help="event type, e.g. ops-health-checked"),
    hub: str = typer.Option(..., "--hub", help="the hub the event belongs to, e.g. ops-hub"),
    subject: str = typer.Option(None, "--subject", help="the entity, e.g. service/gitea"),
    data: str = typer.Option("{}", "--data", help="JSON, @file, or - for JSON lines on stdin (one event each)"),
    actor: str = typer.Option(None, "--actor", help="who acts [env VSMESH_ACTOR; default: your OS user]"),
    actor_kind: str = typer.Option(None, "--actor-kind", help="human, agent or service [env VSMESH_ACTOR_KIND]"),
    expect_seq: int = typer.Option(
        None, "--expect-seq", help="store only if the entity's last event is still at this sequence (0: none yet)"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Publish an event; prints its id and stream sequence."""
    settings = settings_from(data_dir, actor=actor, actor_kind=actor_kind)
    run(_publish(settings, event_type, hub, subject, data, as_json, expect_seq))


async def _publish(
    settings: Settings,
    event_type: str,
    hub: str,
    subject: str | None,
    data: str,
    as_json: bool,
    expect_seq: int | None = None,
) -> None:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher

    if data == "-":
        payloads = [_parse(line, f"stdin line {n}") for n, line in enumerate(sys.stdin, 1) if line.strip()]
    else:
        payloads = [_parse(_read(data), "--data")]
    nc = await connect(settings, name="vsmesh-publish")
    try:
        await check_vocabulary(nc, hub, event_type, payloads)
        publisher = Publisher(nc.jetstream(), settings)
        events = [publisher.build(event_type, hub=hub, subject=subject, data=p) for p in payloads]
        started = time.perf_counter()
        if len(events) == 1 and data != "-":
            results = [await publisher.publish(events[0], expect_entity_seq=expect_seq)]
        else:
            results = await publisher.publish_many(events)
        elapsed = time.perf_counter() - started
    finally:
        await nc.drain()
    if as_json:
        for r in results:
            typer.echo(
                msgspec.json.encode(
                    {"id": r.event_id, "stream": r.stream, "seq": r.sequence, "duplicate": r.duplicate}
                ).decode()
            )
    elif len(results) == 1 and data != "-":
        r = results[0]
        typer.echo(f"{r.event_id} {r.stream} seq {r.sequence}" + (" (duplicate)" if r.duplicate else ""))
    else:
        dups = sum(r.duplicate for r in results)
        rate = len(results) / elapsed if elapsed else 0.0
        typer.echo(f"published {len(results)} events ({dups} duplicates) in {elapsed:.2f} s, {rate:,.0f} ev/s")


async def check_vocabulary(nc, hub: str, event_type: str, payloads: Sequence[Any] = ()) -> None:
    """Refuse a type the hub does not declare: its active manifest's, or a coded hub's own event types
    while it has none (and an annotation, of `payloads`, in a category it does not declare); learn a manifest's
    declared schema-less types.

    A hub that is neither coded nor known to the registry (or a mesh whose registry is not running) is not
    checked here; its projector quarantines what its manifest does not declare.
    """
    from vsmesh.bus.contract_client import ask
    from vsmesh.hubs import is_coded

    active = None
    try:
        active = (await ask(nc, "registry", "get_hub", {"hub": hub}, timeout=5.0)).get("active_manifest")
    except ContractError as e:
        if e.code not in ("not_found", "not_running", "timeout", "forbidden"):
            raise
    if not active and not is_coded(hub):
        return
    # Only here: the vocabulary brings the hub core and SQLAlchemy (about half a second).
    from vsmesh.events.envelope import Horizon
    from vsmesh.hubs import declared_types
    from vsmesh.hubs import hub as coded_hub
    from vsmesh.hubs.vocabulary import VOCABULARIES, ActiveManifest

    if active:
        vocabulary = active["vocabulary"]
        VOCABULARIES.learn(
            ActiveManifest(
                hub,
                active["revision"],
                frozenset(vocabulary["event_types"]),
                Horizon(active["horizon"]),
                frozenset(vocabulary.get("annotation_categories") or []),
            )
        )
    else:
        VOCABULARIES.declare_coded(hub, declared_types(hub), coded_hub(hub).annotation_categories)
    from vsmesh.events.registry import REGISTRY

    if event_type not in REGISTRY:  # no schema and no manifest declares it: say that, not "not accepted"
        raise UnknownEventType(f"unknown event type {event_type!r}; see `vsmesh schema list` for the known types")
    for payload in payloads or [None]:
        refusal = VOCABULARIES.refusal(hub, event_type, payload)
        if refusal:
            raise InvalidEvent(f"refused: {refusal}")


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
