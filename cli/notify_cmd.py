"""`vsmesh notify`: the routes canon holds, a test delivery, silences, what was delivered or parked, a replay.

Routes and silences are canon-hub's (asked over its contract); deliveries are the notifier's ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import ask_hub, fail, run, settings_from
from vsmesh.cli.core_cmds import _call, _pairs, _written
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, echo_json, last_errors, show_table
from vsmesh.settings import Settings

notify_app = typer.Typer(help="Notifications: canon's routes, silences, deliveries.", no_args_is_help=True)
CANON = "canon-hub"


async def _routing(settings: Settings):
    from vsmesh.notify.routes import routing

    answer = await ask_hub(settings, CANON, "get_policies", {})
    return routing((p["policy"], p.get("values")) for p in answer["policies"])


def _target(receiver: Any) -> str:
    """Where a receiver delivers, without its secrets (a reference is shown as written)."""
    kind = type(receiver).__name__.removesuffix("Receiver").lower()
    if kind == "webhook":
        return f"webhook {receiver.url}" + (" (signed)" if receiver.secret else "")
    if kind == "email":
        return f"email {', '.join(receiver.to)} via {receiver.host}:{receiver.port} ({receiver.tls})"
    if kind == "file":
        return f"file {receiver.path} (in the data dir unless absolute)"
    return f"apprise {len(receiver.urls)} URL(s)"


@notify_app.command()
def routes(data_dir: Path | None = DataDir, as_json: bool = Json, wide: bool = Wide) -> None:
    """The routes in force (canon's policies, top-down) and their receivers."""
    import msgspec

    found = run(_routing(settings_from(data_dir)))
    if as_json:
        echo_json({"routes": msgspec.to_builtins(found.routes), "policy_of": found.policy_of,
                   "receivers": msgspec.to_builtins(found.receivers), "ignored": list(found.ignored)})  # fmt: skip
        return
    rows = []
    for r in found.routes:
        match = msgspec.to_builtins(r.match)
        matched = " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in match.items() if v) or "*"
        timing = f"{r.group_wait}/{r.group_interval}/{r.repeat_interval}"
        rows.append([r.name, matched, ", ".join(r.receivers) + (" (chain)" if r.chain else ""), timing,
                     found.policy_of[r.name]])  # fmt: skip
    columns = ["route", "match", "receivers", "wait/interval/repeat", "policy"]
    show_table("routes", columns, rows, keep=["route", "match", "receivers"], wide=wide, whole=["route"])
    for name, receiver in found.receivers.items():
        console.print(f"[bold]{name}[/]: {_target(receiver)}")
    last_errors(("ignored", problem) for problem in found.ignored)


@notify_app.command()
def test(
    receiver: str = typer.Argument(..., help="a receiver declared by canon's policies (`vsmesh notify routes`)"),
    data_dir: Path | None = DataDir,
) -> None:
    """Send a test notification to RECEIVER now, from this terminal, and say how it went."""
    import os

    settings = settings_from(data_dir)
    found = run(_routing(settings))
    if receiver not in found.receivers:
        raise fail(f"no receiver {receiver!r} in canon's policies; declared: {', '.join(found.receivers) or 'none'}")
    outcome = run(_send_test(found.receivers[receiver], os.environ, settings))
    if not outcome.delivered:
        raise fail(f"{receiver} did not take the test notification: {outcome.error}")
    console.print(f"{receiver}: test notification delivered")


async def _send_test(receiver: Any, environ: Any, settings: Settings):
    import httpx
    import msgspec

    from vsmesh.events.envelope import new_event_id, utc_now
    from vsmesh.notify.message import Channel, Message
    from vsmesh.notify.receivers import deliver

    event = {"specversion": "1.0", "id": new_event_id(), "source": "vsmesh/cli", "type": "notification-test",
             "time": utc_now().isoformat(), "hub": CANON, "actor": settings.actor, "actorkind": settings.actor_kind,
             "data": {"title": "vsmesh test notification", "severity": "info"}}  # fmt: skip
    message = Message(event["id"], "test", "test", [event], msgspec.json.encode([event]))
    async with httpx.AsyncClient() as http:
        return await deliver(receiver, message, Channel(environ, http, settings.data_dir))


def _until(text: str, option: str = "--until") -> str:
    from vsmesh.durations import until_time

    try:
        return until_time(text).isoformat()
    except ValueError as e:
        raise fail(f"{option} {e}") from None


@notify_app.command()
def silence(
    match: list[str] = typer.Option(..., "--match", help="FIELD=GLOB (hub, type, entity, horizon, severity); all hold"),
    until: str = typer.Option(..., "--until", help="a duration from now (2h) or an ISO time"),
    reason: str = typer.Option(..., "--reason", help="why: shown beside the silence"),
    starts: str | None = typer.Option(None, "--starts", help="a maintenance window ahead: when it begins"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Hold notifications back: what they would have told is recorded as suppressed, not lost."""
    request = {"matchers": _pairs(match), "until": _until(until), "reason": reason}
    if starts is not None:
        request["starts_at"] = _until(starts, "--starts")
    _written(_call(data_dir, CANON, "set_silence", request), "silenced", as_json)


@notify_app.command()
def silences(
    include_expired: bool = typer.Option(False, "--all", help="also silences whose time ran out"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Silences in force or ahead: what they match, until when, who set them and why."""
    answer = run(ask_hub(settings_from(data_dir), CANON, "get_silences", {"include_expired": include_expired}))
    if as_json:
        return echo_json(answer["silences"])
    rows = [[" ".join(f"{k}={v}" for k, v in s["matchers"].items()), s["until"], s["author"], s["reason"],
             s["starts_at"], s["silence_id"]] for s in answer["silences"]]  # fmt: skip
    columns = ["matches", "until", "by", "reason", "from", "id"]
    show_table("silences", columns, rows, keep=["matches", "until", "by", "reason"], wide=wide, whole=["id"])


@notify_app.command()
def deliveries(
    failed: bool = typer.Option(False, "--failed", help="only those parked or failing now"),
    limit: int = typer.Option(50, help="the newest N"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Who was told what: the notifier's ledger, newest first."""
    from vsmesh.notify.queries import deliveries as ledger

    rows = run(_with_engine(settings_from(data_dir), lambda e: ledger(e, failed=failed, limit=limit)))
    if as_json:
        return echo_json(rows)
    cells = [[r["status"], r["receiver"], r["route"], r["kind"], r["entity"], r["attempts"], r["created_at"],
              r["last_error"], r["notification_id"]] for r in rows]  # fmt: skip
    columns = ["status", "receiver", "route", "kind", "entity", "attempts", "planned", "last error", "id"]
    show_table("deliveries", columns, cells, keep=["status", "receiver", "entity", "attempts"], wide=wide,
               whole=["id"])  # fmt: skip
    last_errors((r["notification_id"], r["last_error"]) for r in rows if r["status"] == "parked" and not wide)


@notify_app.command()
def replay(
    notification_id: str = typer.Argument(..., help="a parked notification (`vsmesh notify deliveries --failed`)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Send a parked notification again (the same webhook-id), its attempts counted afresh."""
    from vsmesh.notify.queries import replay as again

    answer = run(_with_engine(settings_from(data_dir), lambda e: again(e, notification_id)))
    if as_json:
        return echo_json(answer)
    console.print(f"notification {notification_id} is due again")


@notify_app.command()
def inbox(
    folder: Path = typer.Argument(..., help="where it keeps its secret, webhooks.jsonl and the Maildir mail/"),
    webhook_port: int = typer.Option(0, help="0: the port it had last time when free, else any"),
    smtp_port: int = typer.Option(0, help="0: the port it had last time when free, else any"),
) -> None:
    """A local inbox in the foreground until Ctrl-C: a webhook receiver refusing what its signature does not
    prove, and an SMTP server; it prints the receivers to declare in a canon policy (the secret by its file)."""
    settings_from(None, discover=False)  # its log lines to stderr: stdout is the receivers
    run(_serve_inbox(folder.resolve(), webhook_port, smtp_port))


async def _serve_inbox(folder: Path, webhook_port: int, smtp_port: int) -> None:
    import asyncio
    import signal

    from vsmesh.notify.inbox import Inbox, Places

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Inbox(Places.of(folder), webhook_port=webhook_port, smtp_port=smtp_port) as served:
        echo_json({"notify_receivers": served.receivers()})
        await stop.wait()


async def _with_engine(settings: Settings, work):
    from vsmesh.projectors.engine.database import create_engine

    engine = create_engine(settings)
    try:
        return await work(engine)
    finally:
        await engine.dispose()
