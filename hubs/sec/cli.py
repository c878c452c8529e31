"""`vsmesh sec …`: sec-hub's findings, exceptions and secrets over its contract, and report imports."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import ask_hub, run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import echo_json, show_table
from vsmesh.errors import VsmeshError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.hubs.sec.reports import Finding

SEC_HUB = "sec-hub"
CHUNK = 500

sec_app = typer.Typer(help="sec-hub: findings, exceptions, secrets hygiene, report imports.", no_args_is_help=True)
Service = typer.Option(..., "--service", help="the ops service the report is about, e.g. gitea")
Production = typer.Option(False, "--production", help="the service runs in production (critical → ops risk)")


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise typer.BadParameter(f"cannot read {file}: {e}") from None


@sec_app.command("import-trivy")
def import_trivy(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="`trivy image --format json` output"),
    service: str = Service,
    production: bool = Production,
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """One sec-finding-reported per vulnerability; findings of the service's earlier Trivy reports that this
    one no longer has are marked fixed. Importing the same file again publishes nothing."""
    from vsmesh.hubs.sec.reports import read_trivy

    _import(file, service, "trivy", functools.partial(read_trivy, source=str(file), service=service,
            production=production), data_dir, as_json)  # fmt: skip


@sec_app.command("import-policy-report")
def import_policy_report(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a wgpolicyk8s.io PolicyReport (YAML/JSON)"),
    service: str = Service,
    production: bool = Production,
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """One finding per failing rule and resource of a Kyverno (or Gatekeeper-exported) PolicyReport."""
    from vsmesh.hubs.sec.reports import read_policy_report

    reader = functools.partial(read_policy_report, source=str(file), service=service, production=production)
    _import(file, service, "policy-report", reader, data_dir, as_json)


def _import(
    file: Path,
    service: str,
    source: str,
    reader: Callable[[str], list[Finding]],
    data_dir: Path | None,
    as_json: bool,
) -> None:
    from vsmesh.cli.context import fail
    from vsmesh.hubs.sec.reports import digest

    text = _read(file)
    try:
        findings = reader(text)
    except VsmeshError as e:
        raise fail(str(e)) from None
    settings = settings_from(data_dir)
    report = run(_publish_findings(settings, service, source, findings, digest(text)))
    if as_json:
        echo_json(report)
    else:
        typer.echo(
            f"{file.name}: {report['findings']} findings, {report['published']} published, "
            f"{report['already_imported']} already imported, {report['fixed']} fixed"
        )


async def _publish_findings(
    settings: Settings, service: str, source: str, findings: list[Finding], report: str
) -> dict[str, Any]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask as contract_ask
    from vsmesh.bus.publisher import Publisher
    from vsmesh.cli.session import publish_events
    from vsmesh.hubs.sec.reports import fixed_event_id

    nc = await connect(settings, name="vsmesh-sec-import")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        events = [
            publisher.build("sec-finding-reported", hub=SEC_HUB, subject=f"finding/{f.finding_id}", data=f.data,
                            event_id=f.event_id)
            for f in findings
        ]  # fmt: skip
        # Still open (or accepted) from an earlier report of this service and tool, absent from this one: fixed.
        earlier = await contract_ask(nc, SEC_HUB, "get_findings", {"service": service, "source": source})
        now = {f.finding_id for f in findings}
        for old in earlier["findings"]:
            if old["status"] != "fixed" and old["finding_id"] not in now:
                data = {"finding_id": old["finding_id"], "service": service, "report": report}
                events.append(
                    publisher.build("sec-finding-fixed", hub=SEC_HUB, subject=f"finding/{old['finding_id']}",
                                    data=data, event_id=fixed_event_id(old["finding_id"], report))
                )  # fmt: skip
        known: set[str] = set()
        for i in range(0, len(events), CHUNK):
            answer = await contract_ask(nc, SEC_HUB, "known_events", {"ids": [e.id for e in events[i : i + CHUNK]]})
            known.update(answer["known"])
        new = [e for e in events if e.id not in known]
        results = await asyncio.to_thread(publish_events, settings, "importing findings", new) if new else []
        published = sum(1 for r in results if not r.duplicate)
    finally:
        await nc.close()
    fixed = sum(1 for e in events if e.type == "sec-finding-fixed")
    return {
        "findings": len(findings),
        "published": published,
        "already_imported": len(events) - published,
        "fixed": fixed,
        "last_seq": {r.stream: r.sequence for r in results} if results else {},
    }


@sec_app.command("findings")
def findings_cmd(
    service: str = typer.Option(None, "--service"),
    status: str = typer.Option(None, "--status", help="open | accepted | fixed"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Findings with their status: open, accepted (a live exception covers it) or fixed."""
    request = {k: v for k, v in {"service": service, "status": status}.items() if v}
    answer = run(ask_hub(settings_from(data_dir), SEC_HUB, "get_findings", request))
    if as_json:
        echo_json(answer)
        return
    cols = ["service", "severity", "rule", "package", "installed_version", "fixed_version", "status", "first_seen"]
    keep = ["service", "severity", "rule", "package", "status"]
    rows = [[f[c] for c in cols] for f in answer["findings"]]
    show_table("findings", cols, rows, keep=keep, wide=wide, whole=["service", "severity", "rule"])


@sec_app.command("exceptions")
def exceptions_cmd(data_dir: Path | None = DataDir, as_json: bool = Json, wide: bool = Wide) -> None:
    """The exception register: owner, reason, compensating control, expiry, live or expired."""
    answer = run(ask_hub(settings_from(data_dir), SEC_HUB, "get_exceptions"))
    if as_json:
        echo_json(answer)
        return
    cols = ["exception_id", "owner", "expires_on", "status", "days_left", "reason", "compensating_control"]
    keep = ["exception_id", "owner", "expires_on", "days_left", "reason"]
    rows = [[e[c] for c in cols] for e in answer["exceptions"]]
    show_table("exceptions", cols, rows, keep=keep, wide=wide, whole=["exception_id", "expires_on"])


@sec_app.command("grant-exception")
def grant_exception_cmd(
    exception_id: str = typer.Argument(..., help="a name for the exception, e.g. gitea-openssl"),
    owner: str = typer.Option(..., "--owner"),
    reason: str = typer.Option(..., "--reason"),
    expires_on: str = typer.Option(..., "--expires-on", help="YYYY-MM-DD, the last day it holds"),
    finding: str = typer.Option(None, "--finding", help="the finding id it accepts"),
    rule: str = typer.Option(None, "--rule", help="or every finding of this rule (CVE or policy/rule)"),
    service: str = typer.Option(None, "--service", help="with --rule: only on this service"),
    control: str = typer.Option(None, "--compensating-control"),
    backdate: bool = typer.Option(False, "--backdate", help="record an exception whose expiry date is already past"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Accept a finding (or a rule) until a date; past it, sec alerts and escalates to canon."""
    _refuse_a_past_expiry(expires_on, backdate)
    request = {"exception_id": exception_id, "owner": owner, "reason": reason, "expires_on": expires_on,
               "finding_id": finding, "rule": rule, "service": service, "compensating_control": control,
               "backdate": backdate}  # fmt: skip
    answer = run(ask_hub(settings_from(data_dir), SEC_HUB, "grant_exception", {k: v for k, v in request.items() if v}))
    echo_json(answer) if as_json else typer.echo(f"exception {exception_id} granted until {expires_on}: {answer['id']}")


def _refuse_a_past_expiry(expires_on: str, backdate: bool) -> None:
    """An expiry already past records an exception that accepts nothing: a typo, unless said on purpose."""
    import datetime as dt

    from vsmesh.cli.context import fail

    try:
        day = dt.date.fromisoformat(expires_on)
    except ValueError:
        raise fail(f"--expires-on {expires_on!r} is no date: write YYYY-MM-DD, e.g. 2026-12-31") from None
    today = dt.datetime.now(dt.UTC).date()
    if day < today and not backdate:
        raise fail(
            f"--expires-on {day} is already past (today is {today}, UTC): give a future date, "
            "or add --backdate to record an exception that already expired"
        )


@sec_app.command("rotated")
def rotated_cmd(
    secret_set: str = typer.Argument(..., help="the ops secret-set, e.g. sops-age-keys"),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Record that a secret set was rotated."""
    answer = run(
        ask_hub(settings_from(data_dir), SEC_HUB, "record_rotation", {"secret_set": secret_set, "rotated_on": on})
    )
    echo_json(answer) if as_json else typer.echo(f"{secret_set} rotated on {on}: {answer['id']}")


@sec_app.command("check-expiry")
def check_expiry_cmd(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Publish expired exceptions and overdue rotations now (`vsmesh up` does it every minute)."""
    answer = run(ask_hub(settings_from(data_dir), SEC_HUB, "check_expiries"))
    if as_json:
        echo_json(answer)
    else:
        typer.echo(
            f"expired exceptions published: {', '.join(answer['exceptions_expired']) or 'none'}; "
            f"overdue rotations: {', '.join(answer['rotations_overdue']) or 'none'}"
        )
