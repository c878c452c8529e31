"""`vsmesh legal …`: legal-hub's GDPR report, vendor register and imports, over its contract."""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import ask_hub, fail, run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import echo_json, show_table
from vsmesh.errors import VsmeshError
from vsmesh.settings import Settings

LEGAL_HUB = "legal-hub"

legal_app = typer.Typer(help="legal-hub: vendor register (TPSC), GDPR report, AI register.", no_args_is_help=True)


class Format(enum.StrEnum):
    MD = "md"
    JSON = "json"


@legal_app.command("report")
def report_cmd(
    fmt: Format = typer.Option(Format.MD, "--format", help="md for people, json for tools"),
    as_of: str = typer.Option(
        None, "--as-of", help="read point-in-time copy NAME (`vsmesh rebuild legal-hub --into NAME --as-of TIME`)"
    ),
    data_dir: Path | None = DataDir,
) -> None:
    """The GDPR Art. 30 record and its gaps, each naming the events it comes from."""
    from vsmesh.hubs.legal.report import markdown

    settings = settings_from(data_dir)
    # A point-in-time copy is read through the same contract; its dates are judged on the copy's day.
    answer = run(ask_hub(settings, LEGAL_HUB, "get_gdpr_report", {"point_in_time": as_of} if as_of else {}))
    if fmt is Format.JSON:
        echo_json(answer)
    else:
        if isinstance(answer.get("as_of"), str):
            answer["as_of"] = dt.date.fromisoformat(answer["as_of"])
        typer.echo(markdown(answer), nl=False)


@legal_app.command("import-tpsc")
def import_tpsc(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="vendors as CSV (header row) or YAML"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Record every vendor of the file; a bad value refuses the whole file (file:line: field), and vendors
    recorded before with the same content are not published again."""
    from vsmesh.hubs.legal.tpsc import read_tpsc

    try:
        tools = read_tpsc(file.read_text(encoding="utf-8-sig"), str(file))
    except (VsmeshError, OSError, UnicodeDecodeError) as e:
        raise fail(str(e)) from None
    report = run(_import(settings_from(data_dir), tools))
    if as_json:
        echo_json(report)
    else:
        typer.echo(f"{file.name}: {report['vendors']} vendors, {report['published']} published, "
                   f"{report['already_imported']} already imported")  # fmt: skip


async def _import(settings: Settings, tools: list) -> dict[str, Any]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask as contract_ask

    nc = await connect(settings, name="vsmesh-legal-import")
    published = 0
    try:
        known = set(
            (await contract_ask(nc, LEGAL_HUB, "known_events", {"ids": [t.content_id() for t in tools]}))["known"]
        )
        for t in tools:
            if t.content_id() not in known:
                await ask_hub(settings, LEGAL_HUB, "ingest_tpsc_tool", {"tool": t.model_dump(mode="json")})
                published += 1
    finally:
        await nc.close()
    return {"vendors": len(tools), "published": published, "already_imported": len(tools) - published}


@legal_app.command("vendors")
def vendors_cmd(data_dir: Path | None = DataDir, as_json: bool = Json, wide: bool = Wide) -> None:
    """The vendor register (third-party services and tools)."""
    answer = run(ask_hub(settings_from(data_dir), LEGAL_HUB, "list_services"))
    if as_json:
        echo_json(answer)
        return
    cols = ["vendor", "service", "personal_data", "location", "dpa_status", "transfer_mechanism", "review_by"]
    keep = ["vendor", "service", "personal_data", "dpa_status", "review_by"]
    rows = [[v[c] for c in cols] for v in answer["services"]]
    show_table("vendors", cols, rows, keep=keep, wide=wide, whole=["vendor", "review_by"])


@legal_app.command("record-dpa")
def record_dpa_cmd(
    vendor: str = typer.Argument(...),
    signed_on: str = typer.Option(..., "--signed-on", help="YYYY-MM-DD"),
    document: str = typer.Option(None, "--document", help="where the signed DPA is kept"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Record a signed data processing agreement with a vendor."""
    request = {k: v for k, v in {"vendor": vendor, "signed_on": signed_on, "document": document}.items() if v}
    answer = run(ask_hub(settings_from(data_dir), LEGAL_HUB, "record_dpa", request))
    echo_json(answer) if as_json else typer.echo(f"DPA with {vendor} recorded: {answer['id']}")


@legal_app.command("register-ai")
def register_ai_cmd(
    actor: str = typer.Argument(..., help="the agent's actor id"),
    owner: str = typer.Option(..., "--owner"),
    purpose: str = typer.Option(..., "--purpose"),
    risk_class: str = typer.Option("minimal", "--risk-class", help="minimal | limited | high | unacceptable | gpai"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Enter an agent in the AI Act register."""
    request = {"ai_actor": actor, "owner": owner, "purpose": purpose, "risk_class": risk_class}
    answer = run(ask_hub(settings_from(data_dir), LEGAL_HUB, "register_ai_system", request))
    echo_json(answer) if as_json else typer.echo(f"AI system {actor} registered: {answer['id']}")


@legal_app.command("record-processing")
def record_processing_cmd(
    activity: str = typer.Argument(..., help="a slug for the activity, e.g. git-hosting"),
    purpose: str = typer.Option(..., "--purpose"),
    legal_basis: str = typer.Option(
        ...,
        "--legal-basis",
        help="consent | contract | legal-obligation | vital-interests | public-task | legitimate-interests",
    ),
    services: list[str] = typer.Option([], "--service", help="an ops service it runs on (repeat)"),
    recipients: list[str] = typer.Option([], "--recipient", help="a vendor slug that receives the data (repeat)"),
    subjects: list[str] = typer.Option([], "--data-subject", help="e.g. contributors (repeat)"),
    categories: list[str] = typer.Option([], "--data-category", help="e.g. email (repeat)"),
    retention: str = typer.Option(None, "--retention"),
    toms: list[str] = typer.Option([], "--tom", help="a technical or organisational measure (repeat)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Record (or replace) a GDPR Art. 30 processing activity."""
    request = {"activity": activity, "purpose": purpose, "legal_basis": legal_basis, "services": services,
               "recipients": recipients, "data_subjects": subjects, "data_categories": categories,
               "retention": retention, "toms": toms}  # fmt: skip
    answer = run(
        ask_hub(settings_from(data_dir), LEGAL_HUB, "record_processing", {k: v for k, v in request.items() if v})
    )
    echo_json(answer) if as_json else typer.echo(f"processing activity {activity} recorded: {answer['id']}")
