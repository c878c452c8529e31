"""`vsmesh probe …`: run a probe file against the mesh, and list each probe's last result from ops-hub."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import fail, run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, duration, echo_json, show_table
from vsmesh.settings import Settings

probe_app = typer.Typer(help="Probes: evidence that collects itself (http, tls, tcp, dns, postgres, backup, k8s).")

ProbeFileArg = typer.Argument(None, help="the probe file [env VSMESH_PROBES]", show_default=False)


def _file(path: Path | None, settings: Settings) -> Path:
    chosen = path or settings.probes
    if chosen is None:
        raise fail("name a probe file (vsmesh probe run FILE) or set VSMESH_PROBES")
    return chosen


def _colour(passed: bool | None) -> str:
    return {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]no result[/]"}[passed]


@probe_app.command("run")
def run_cmd(
    path: Path | None = ProbeFileArg,
    once: bool = typer.Option(False, "--once", help="run every probe once, publish, show the results and stop"),
    creds: Path | None = typer.Option(
        None, "--creds", help="the runner's client credentials [default: <data dir>/agents/VSMESH_PROBES_ACTOR.json]"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Run the probes on their schedules (Ctrl-C stops), publishing each result as ops-hub evidence, as the
    service identity a token of the gateway's issuer proves (VSMESH_PROBES_ACTOR, `vsmesh agent add … --kind
    service`)."""
    settings = settings_from(data_dir)
    probes = _read(_file(path, settings))
    results = run(_run(probes, settings, once, creds))
    if results is None:
        return
    rows = [_result_row(r) for r in results]
    if as_json:
        echo_json([{k: v for k, v in zip(_RESULT_COLUMNS, row, strict=True)} for row in rows])
        return
    cells = [[*r[:3], _colour(r[3]), *r[4:]] for r in (_result_row(result, human=True) for result in results)]
    keep = ["probe", "passed", "why"]
    show_table("probe results", list(_RESULT_COLUMNS), cells, keep=keep, wide=wide, whole=["probe", "event"])


def _read(path: Path):
    """The probe file; a mistake in it is one line naming file, line and field."""
    from vsmesh.errors import VsmeshError
    from vsmesh.probes.model import load_probe_file

    try:
        return load_probe_file(path)
    except VsmeshError as e:
        raise fail(str(e)) from None


_RESULT_COLUMNS = ("probe", "kind", "entity", "passed", "why", "event")


def _result_row(result, human: bool = False) -> list[Any]:
    failed = _failed(result.outcomes, human)
    why = "; ".join(([result.observation.error] if result.observation.error else []) + failed)
    return [result.probe.name, result.probe.kind, result.probe.entity, result.passed, why, result.event_id]


def _failed(outcomes: list[dict[str, Any]], human: bool) -> list[str]:
    """The conditions that failed with what was seen; `human` (a table): a duration as `3d`, not 259200."""
    return [f"{o['condition']} (saw {_seen(o, human)})" for o in outcomes if not o["held"]]


_PLACEHOLDER = re.compile(r"^\s*\[([A-Z_]+)")


def _seen(outcome: dict[str, Any], human: bool) -> str:
    from vsmesh.probes.conditions import UNITS

    value, named = outcome["observed"], _PLACEHOLDER.match(outcome["condition"])
    unit = UNITS.get(named.group(1)) if named else None
    if human and unit and isinstance(value, int | float) and not isinstance(value, bool):
        return duration(value / 1000 if unit == "ms" else value)
    return repr(value)


async def _identity(settings: Settings, creds: Path | None):
    """The runner's verified identity from the gateway the settings name (the mesh's, found in its data dir);
    the mesh of this very data dir registers the service client when it is missing, as `vsmesh up` does."""
    from vsmesh.gateway.identity.config import GatewayConfig
    from vsmesh.gateway.identity.service_identity import service_identity
    from vsmesh.probes.runner import Identity
    from vsmesh.runtime.mesh_state import load_state, not_running

    if not settings.gateway_url:
        raise fail(f"no gateway to prove the runner's identity (VSMESH_GATEWAY_URL): {not_running(settings.data_dir)}")
    ours = load_state(settings.data_dir).gateway_url == settings.gateway_url
    config = GatewayConfig.of(settings, settings.gateway_url)
    principal = await service_identity(config, settings.probes_actor, creds=creds, register=ours)
    return Identity(principal.subject, principal.kind)


async def _run(probes, settings: Settings, once: bool, creds: Path | None):
    from vsmesh.bus.connection import connect
    from vsmesh.probes.runner import ProbeRunner, report_every

    identity = await _identity(settings, creds)
    nc = await connect(settings, name="vsmesh-probes")
    stop = asyncio.Event()
    verdicts: dict[str, bool] = {}

    def changed(result) -> None:  # a long run prints a line when a probe turns green or red
        if not once and verdicts.get(result.probe.name) != result.passed:
            verdicts[result.probe.name] = result.passed
            state = "[green]passes[/]" if result.passed else f"[red]fails[/]: {_result_row(result)[4]}"
            console.print(f"{dt.datetime.now().strftime('%H:%M:%S')} {result.probe.name} {state}")

    runner = ProbeRunner(probes, nc, settings, os.environ, identity=identity, on_result=changed)
    try:
        await runner.recover()
        if once:
            return await runner.run_once()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(f"running {len(probes.probes)} probes; Ctrl-C stops")
        reporter = asyncio.create_task(report_every(runner, 60.0, stop))
        await runner.run(stop)
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        return None
    finally:
        await runner.aclose()
        await nc.close()


@probe_app.command("list")
def list_cmd(
    path: Path | None = ProbeFileArg,
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Each probe of the file with its last result on ops-hub and its age."""
    settings = settings_from(data_dir)
    probes = _read(_file(path, settings))
    found = run(_last_results(probes, settings, human=not as_json))
    if as_json:
        echo_json(found)
        return
    rows = [
        [
            f["probe"],
            f["kind"],
            f["entity"],
            duration(f["interval_s"]),
            _colour(f["passed"]),
            _age(f["age_s"]),
            f["summary"],
        ]
        for f in found
    ]
    columns = ["probe", "kind", "entity", "every", "last result", "age", "evidence"]
    keep = ["probe", "every", "last result", "age", "evidence"]
    show_table("probes", columns, rows, keep=keep, wide=wide, whole=["probe"])


async def _last_results(probes, settings: Settings, human: bool = False) -> list[dict[str, Any]]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask

    nc = await connect(settings, name="vsmesh-probe-list")
    try:
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for entity in sorted({p.entity for p in probes.probes}):
            by_entity[entity] = (await ask(nc, "ops-hub", "get_evidence", {"entity": entity}))["evidence"]
    finally:
        await nc.close()
    now = dt.datetime.now(dt.UTC)
    return [_last(p, by_entity[p.entity], now, human) for p in probes.probes]


def _last(probe, rows: list[dict[str, Any]], now: dt.datetime, human: bool = False) -> dict[str, Any]:
    """The probe's latest evidence among its entity's rows (another probe of the same entity has its own);
    `human`: its summary for a table, durations as `3d`."""
    mine = [r for r in rows if _probe_name(r) == probe.name]
    latest = max(mine, key=lambda r: r["at"] or "", default=None)
    at = dt.datetime.fromisoformat(latest["at"]) if latest and latest["at"] else None
    return {
        "probe": probe.name,
        "kind": probe.kind,
        "entity": probe.entity,
        "interval_s": probe.interval,
        "passed": None if latest is None else latest["status"] == "green",
        "at": at,
        "age_s": round((now - at).total_seconds(), 1) if at else None,
        "summary": _why(latest, human) if latest else None,
        "event_id": latest["event_id"] if latest else None,
        "actor": latest["actor"] if latest else None,  # the runner's verified identity
    }


def _why(row: dict[str, Any], human: bool = False) -> str:
    """The evidence's summary, and for a failure the error and the conditions that failed with what was seen."""
    probe = ((row.get("detail") or {}).get("metadata") or {}).get("probe") or {}
    failed = _failed(probe.get("conditions", []), human)
    return "; ".join([row["summary"], *([probe["error"]] if probe.get("error") else []), *failed])


def _probe_name(row: dict[str, Any]) -> str | None:
    meta = (row.get("detail") or {}).get("metadata") or {}
    return (meta.get("probe") or {}).get("name")


def _age(seconds: float | None) -> str:
    return "" if seconds is None else f"{duration(round(seconds))} ago"
