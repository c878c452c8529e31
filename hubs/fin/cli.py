"""`vsmesh fin …`: fin-hub's runway over the contract, and cost CSV imports published as events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import ask_hub, is_terminal, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json
from vsmesh.errors import InvalidEvent
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from nats.aio.client import Client

    from vsmesh.events.envelope import Event
    from vsmesh.hubs.fin.costs_csv import BadRow, CostRow


FIN_HUB = "fin-hub"
CHUNK = 500  # rows per known-ids question and per published slice (one progress step)
EXIT_BAD_ROWS = 2  # the good rows were imported, some rows were not

fin_app = typer.Typer(help="fin-hub: runway, budgets and cost imports.", no_args_is_help=True)


@fin_app.command("runway")
def runway_cmd(
    as_of: str = typer.Option(None, "--as-of", help="project from this day (YYYY-MM-DD); default today"),
    currency: str = typer.Option(None, "--currency", help="e.g. EUR; default the latest balance's currency"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Months of runway: balance over the projected monthly burn, commitments included."""
    settings = settings_from(data_dir)
    request = {k: v for k, v in {"as_of": as_of, "currency": currency}.items() if v}
    answer = run(ask_hub(settings, FIN_HUB, "get_runway", request))
    if as_json:
        echo_json(answer)
    else:
        _render_runway(answer)


def _render_runway(a: dict[str, Any]) -> None:
    months = a["months_remaining"]
    left = "more than ten years" if months is None else f"{months} months"
    colour = "red" if a["below_threshold"] else "green"
    console.print(
        f"[bold]runway[/] as of {a['as_of']}: [{colour}]{left}[/] (alert below {a['alert_threshold_months']})"
    )
    console.print(f"  balance       {a['balance']} {a['currency']}")
    console.print(f"  monthly burn  {a['monthly_burn']} {a['currency']}")
    console.print(f"    variable    {a['variable_monthly']} (average of the latest months' costs and tokens)")
    console.print(f"    committed   {a['committed_monthly']} (subscriptions, contracts, salaries due this month)")


@fin_app.command("import-costs")
def import_costs(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a header row"),
    currency: str = typer.Option("EUR", "--currency", help="for rows without a currency column"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Publish each CSV row as fin-cost-recorded (fin-token-spend-recorded when it has tokens_in/out).

    Columns (any order, case-insensitive): date, amount, currency, vendor, domain, service, category,
    period, description; token rows add provider, model, tokens_in, tokens_out, session_id. Bad rows are
    reported by line and skipped (exit code 2); rows imported before are not published again.
    """
    from vsmesh.hubs.fin.costs_csv import read_rows

    settings = settings_from(data_dir)
    with file.open(newline="", encoding="utf-8-sig") as f:
        rows, bad = read_rows(f, currency.upper())
    report = run(_import(settings, rows, bad))
    if as_json:
        echo_json(report)
    else:
        for b in report["bad"]:
            typer.echo(f"line {b['line']}: {b['reason']}", err=True)
        typer.echo(
            f"{file.name}: {report['rows']} rows, {report['published']} published, "
            f"{report['already_imported']} already imported, {len(report['bad'])} bad"
        )
    if report["bad"]:
        raise typer.Exit(EXIT_BAD_ROWS)


async def _import(settings: Settings, rows: list[CostRow], bad: list[BadRow]) -> dict[str, Any]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.hubs.fin.costs_csv import BadRow

    total = len(rows) + len(bad)  # before build adds the rows the event schema refuses
    nc = await connect(settings, name="vsmesh-fin-import")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        events: list[Event] = []
        for row in rows:
            try:
                events.append(
                    publisher.build(
                        row.event_type, hub=FIN_HUB, subject=row.subject, data=row.data, event_id=row.event_id
                    )
                )
            except InvalidEvent as e:
                bad.append(BadRow(row.line, str(e)))
        new = await _unknown_to_hub(nc, events)
        published, duplicates = await _publish(settings, new)
    finally:
        await nc.close()
    return {
        "rows": total,
        "published": published,
        "already_imported": len(events) - len(new) + duplicates,
        "bad": [{"line": b.line, "reason": b.reason} for b in sorted(bad, key=lambda b: b.line)],
    }


async def _unknown_to_hub(nc: Client, events: list[Event]) -> list[Event]:
    """The events fin-hub has not applied: the stream's duplicate window lasts minutes, the hub forever."""
    from vsmesh.bus.contract_client import ask

    known: set[str] = set()
    for i in range(0, len(events), CHUNK):
        answer = await ask(nc, FIN_HUB, "known_events", {"ids": [e.id for e in events[i : i + CHUNK]]})
        known.update(answer["known"])
    return [e for e in events if e.id not in known]


async def _publish(settings: Settings, events: list[Event]) -> tuple[int, int]:
    """Publish in slices through the gateway as the signed-in person, with a progress bar on a terminal (log lines
    otherwise); (new, duplicates)."""
    import asyncio

    import structlog
    from rich.progress import Progress

    from vsmesh.cli.session import publish_events

    log = structlog.get_logger(__name__)
    new = duplicates = 0
    with Progress(console=console, transient=False, disable=not is_terminal()) as progress:
        task = progress.add_task("importing costs", total=len(events))
        for i in range(0, len(events), CHUNK):
            results = await asyncio.to_thread(publish_events, settings, "importing costs", events[i : i + CHUNK])
            # The stream's own dedupe catches a re-import the hub has not applied yet.
            dups = sum(1 for r in results if r.duplicate)
            new, duplicates = new + len(results) - dups, duplicates + dups
            progress.advance(task, len(results))
            if not is_terminal():
                log.info("import progress", published=new, duplicates=duplicates, done=i + len(results), of=len(events))
    return new, duplicates
