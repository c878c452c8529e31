"""`vsmesh rebuild`: replay the log into a fresh schema and swap it in, or build a hub as it was at a past
moment into a point-in-time copy of its own; list and drop those copies."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import echo_json, show_table
from vsmesh.clock import as_utc
from vsmesh.durations import is_duration, parse_duration
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.projectors.engine.pipeline import Progress as ProgressFn
    from vsmesh.projectors.rebuild.build import RebuildResult
    from vsmesh.projectors.rebuild.copies import BuildInfo


# vsmesh.projectors.rebuild.build's default, repeated so `--help` shows it without importing SQLAlchemy;
# tests/cli/test_startup.py checks the two agree.
DEFAULT_BATCH_SIZE = 75_000

LOG_EVERY_S = 2.0


def rebuild_cmd(
    hub: str = typer.Argument(None, help="hub slug, e.g. ops-hub (not needed with --list or --drop)"),
    into: str = typer.Option(None, "--into", help="build a point-in-time copy NAME instead of swapping the live hub"),
    as_of: str = typer.Option(
        None, "--as-of", help="with --into: stop after this time (ISO 8601, UTC if no zone; or 2h, 3d ago)"
    ),
    to_seq: list[str] = typer.Option(
        None, "--to-seq", help="with --into: stop after stream sequence N ([STREAM:]N, repeatable)"
    ),
    list_copies: bool = typer.Option(False, "--list", help="list point-in-time copies and interrupted rebuilds"),
    drop: str = typer.Option(None, "--drop", help="remove the point-in-time copy NAME"),
    fresh: bool = typer.Option(False, "--fresh", help="discard an interrupted rebuild instead of resuming it"),
    allow_gap: bool = typer.Option(
        False, "--allow-gap", help="build even if retention aged out events no snapshot covers"
    ),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="events per transaction"),
    diff: bool = typer.Option(False, "--diff", help="show what the new schema changes, and ask before swapping it in"),
    yes: bool = typer.Option(False, "--yes", "-y", help="with --diff: swap without asking (scripts)"),
    exclude_actor: str = typer.Option(
        None, "--exclude-actor", help="with --into: a what-if copy without this actor's events (see --cascade)"
    ),
    since: str = typer.Option(None, "--since", help="with --exclude-actor: only its events since (ISO 8601, or 2h)"),
    cascade: bool = typer.Option(
        False, "--cascade", help="with --exclude-actor: also leave out what its events caused, across hubs"
    ),
    partitions: int = typer.Option(
        1, "--partitions", min=1, help="fold the log in this many processes side by side (hubs that can be split)"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Rebuild a hub from the log while it keeps answering (progress bar on a terminal, log lines otherwise)."""
    settings = settings_from(data_dir)
    if list_copies:
        _show_builds(run(_list(settings)), as_json, wide)
        return
    if drop:
        run(_drop(settings, drop))
        _say(as_json, {"dropped": drop}, f"point-in-time copy {drop} dropped")
        return
    if not hub:
        raise typer.BadParameter("give a HUB to rebuild (or --list / --drop NAME)", param_hint="HUB")
    from vsmesh.projectors.engine.pipeline import Until

    until = Until(seq=_parse_seqs(to_seq or []), time=_parse_time(as_of) if as_of else None)
    options = {"into": into, "until": until, "fresh": fresh, "allow_gap": allow_gap, "batch_size": batch_size}
    if exclude_actor:
        options["without"] = _without(into, exclude_actor, since, cascade)
    elif since or cascade:
        raise typer.BadParameter("--since and --cascade go with --exclude-actor ACTOR", param_hint="--exclude-actor")
    if diff and into:
        raise typer.BadParameter("--diff reviews a swap; compare copies with `vsmesh diff HUB --as-of A --as-of B`")
    interactive = sys.stderr.isatty() and not as_json
    if diff:
        options["review"] = _review(as_json, yes=yes, ask=sys.stdin.isatty() and not as_json)
    result, left_out = run(_rebuild(settings, hub, interactive=interactive, partitions=partitions, **options))
    value, sentence = _as_dict(result, into), _sentence(result, into)
    if exclude_actor:
        value["left_out"] = left_out
        caused = sum(1 for r in left_out if r["caused_by"])
        sentence += (f", leaving out {len(left_out)} of its events ({caused} caused by {exclude_actor}'s); "
                     f"`vsmesh diff {hub} --as-of {into}` shows what they changed")  # fmt: skip
    _say(as_json, value, sentence)


def _without(into: str | None, actor: str, since: str | None, cascade: bool):
    """What a what-if copy leaves out (projectors/rebuild/whatif.py)."""
    from vsmesh.projectors.rebuild.whatif import Without

    if not into:
        raise typer.BadParameter(
            "a what-if copy needs a name: --into NAME (then `vsmesh diff HUB --as-of NAME`)", param_hint="--into"
        )
    return Without(actor=actor, since=_parse_time(since, "--since") if since else None, cascade=cascade)


def _review(as_json: bool, *, yes: bool, ask: bool):
    """Shows the diff; an identical result, --yes, or a person's yes swaps it in."""
    from vsmesh.cli.diff_cmd import show_diff

    async def review(diff) -> bool:
        if not as_json:
            show_diff(diff, as_json=False)
        if diff.identical or yes:
            return True
        if ask:
            return typer.confirm(f"swap the new {diff.hub} in?", default=False, err=True)
        return False

    return review


async def _rebuild(
    settings: Settings, hub: str, *, interactive: bool, partitions: int = 1, **options: Any
) -> tuple[RebuildResult, list[dict[str, Any]]]:
    """The build's result, and the events a what-if copy left out."""
    from vsmesh.bus.connection import connect
    from vsmesh.hubs.projections import projection_of
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.build import rebuild

    nc = await connect(settings, name="vsmesh-rebuild")
    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        projection = await projection_of(engine, hub)  # coded, the registry, or a manifest hub
        if partitions > 1:
            options["replay_with"] = _partitioned(settings, projection, partitions, options["batch_size"])
        with _progress(hub, interactive) as progress:
            result = await rebuild(nc.jetstream(), engine, projection, progress=progress, **options)
        if not options.get("without"):
            return result, []
        from vsmesh.projectors.rebuild.whatif import excluded_in

        async with engine.connect() as conn:
            return result, await excluded_in(conn, result.schema)
    finally:
        await engine.dispose()
        await nc.drain()


def _partitioned(settings: Settings, projection: Any, partitions: int, batch_size: int) -> Any:
    """The replay of a rebuild with --partitions: one process per partition (runtime/partitions.py)."""
    from vsmesh.errors import ConfigError
    from vsmesh.projectors.distribution.partitioned import partitioned_replay
    from vsmesh.runtime.partitions import forked_runner

    if not projection.entity_types:
        raise ConfigError(f"{projection.hub} cannot be partitioned (README: Partitions); leave out --partitions")
    return partitioned_replay(forked_runner(settings, projection, batch_size=batch_size), partitions)


@contextmanager
def _progress(hub: str, interactive: bool) -> Iterator[ProgressFn]:
    """A rich bar with events/s and ETA on a terminal; otherwise a structured log line every few seconds."""
    import structlog
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    log = structlog.get_logger(__name__)
    started = time.monotonic()

    def rate(done: int) -> float:
        elapsed = time.monotonic() - started
        return done / elapsed if elapsed > 0 else 0.0

    if not interactive:
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= LOG_EVERY_S or (done and done >= total):
                r = rate(done)
                eta = round((total - done) / r, 1) if r and total > done else 0.0
                log.info("rebuild progress", hub=hub, events=done, total=total, events_per_s=round(r), eta_s=eta)
                last[0] = now

        yield report
        return
    columns = (
        TextColumn(f"rebuilding {hub}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} ev/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(hub, total=None, rate="-")
        yield lambda done, total: bar.update(task, completed=done, total=total, rate=f"{rate(done):,.0f}")


async def _list(settings: Settings) -> list[BuildInfo]:
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.copies import list_builds

    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        return await list_builds(engine)
    finally:
        await engine.dispose()


async def _drop(settings: Settings, name: str) -> None:
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema, read_build_info

    schema = pit_schema(name)
    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        async with engine.connect() as conn:
            info = await read_build_info(conn, schema)
        if info is None or info.kind != "point-in-time":
            raise ConfigError(f"no point-in-time copy named {name!r}; `vsmesh rebuild --list` shows them")
        await drop_schema(engine, schema)
    finally:
        await engine.dispose()


def _parse_time(text: str, option: str = "--as-of") -> dt.datetime:
    """ISO 8601 (a naive time is UTC), a date (its midnight UTC), or an age such as 90m, 2h, 3d."""
    if is_duration(text):
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=parse_duration(text))
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is no time: use ISO 8601 (2024-06-01T12:00:00Z, 2024-06-01) or an age (90m, 2h, 3d)",
            param_hint=option,
        ) from None
    return as_utc(moment)


def _parse_seqs(values: list[str]) -> dict[str, int]:
    """`N` (every stream of the hub) or `STREAM:N`."""
    seqs: dict[str, int] = {}
    for value in values:
        stream, _, number = value.rpartition(":")
        if not number.isdigit():
            raise typer.BadParameter(
                f"{value!r}: expected N or STREAM:N, e.g. 5000 or OPERATIONAL:5000", param_hint="--to-seq"
            )
        seqs[stream.upper() or "*"] = int(number)
    return seqs


def _as_dict(result: RebuildResult, into: str | None) -> dict[str, Any]:
    return {
        "hub": result.hub,
        "into": into,
        "schema": result.schema,
        "events": result.events,
        "seconds": round(result.seconds, 3),
        "events_per_s": round(result.rate),
        "positions": result.positions,
        "source": result.source,
        "resumed": result.resumed,
        "swapped": result.swapped if not into else None,
        **({"diff": result.diff.as_dict()} if result.diff is not None else {}),
    }


def _sentence(result: RebuildResult, into: str | None) -> str:
    done = f"from {result.events} events in {result.seconds:.2f} s ({result.rate:,.0f} ev/s)"
    start = "" if result.source == "log" else f", starting from snapshot {result.source}"
    resumed = ", resuming an interrupted build" if result.resumed else ""
    if into:
        return f"{result.hub} as of {_positions(result.positions)} built into {into} {done}{start}{resumed}"
    if not result.swapped:
        return (f"{result.hub} rebuilt into {result.schema} {done} but NOT swapped in: run again with --yes to swap "
                "(the build is kept and resumed)")  # fmt: skip
    return f"{result.hub} rebuilt {done}{start}{resumed}"


def _positions(positions: dict[str, int]) -> str:
    return ", ".join(f"{s}:{p}" for s, p in sorted(positions.items())) or "the start"


def _say(as_json: bool, value: dict[str, Any], sentence: str) -> None:
    if as_json:
        echo_json(value)
    else:
        print(sentence)


def _what_if(without: str) -> str:
    import msgspec

    from vsmesh.projectors.rebuild.whatif import Without

    return msgspec.json.decode(without, type=Without).describe()


def _show_builds(builds: list[BuildInfo], as_json: bool, wide: bool) -> None:
    rows = [
        {
            "name": b.name if b.kind == "point-in-time" and b.finished_at else None,
            "hub": b.hub,
            "kind": b.kind,
            "schema": b.schema,
            "until": b.until.describe() + (f", {_what_if(b.without)}" if b.without else ""),
            "source": b.source,
            "started_at": b.started_at,
            "finished_at": b.finished_at,
            "state": "complete" if b.finished_at else "interrupted (resumed or discarded by the next run)",
        }
        for b in builds
    ]
    if as_json:
        echo_json(rows)
        return
    columns = ["name", "hub", "until", "source", "built", "state"]
    cells = [
        [r["name"] or "-", r["hub"], r["until"], r["source"], r["finished_at"] or r["started_at"],
         r["state"] if wide else r["state"].split(" (")[0]]
        for r in rows
    ]  # fmt: skip
    title = "point-in-time copies and interrupted rebuilds"
    show_table(title, columns, cells, keep=["name", "hub", "until", "built", "state"], wide=wide, whole=["name"])
