"""The generic core at a terminal: risks, alerts, escalations, capabilities, messages of any hub.

Every command asks the hub's contract over NATS (never its database), so it works against any hub
that `vsmesh up` runs, wherever it runs. Writes act as `VSMESH_ACTOR` and print the event's id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import ask_hub, fail, run, settings_from
from vsmesh.cli.options import DataDir, HubArg, Json, Wide
from vsmesh.cli.output import console, echo_json, show_table, table

capability_app = typer.Typer(help="Capabilities a hub offers, and requests for them.", no_args_is_help=True)
message_app = typer.Typer(help="Messages between hubs and actors.", no_args_is_help=True)

_COLOURS = {"critical": "red", "high": "red", "medium": "yellow", "low": "green", "info": "dim"}


def _call(data_dir: Path | None, hub: str, operation: str, request: dict[str, Any]) -> Any:
    """One contract call (a write: through the gateway as the signed-in person); errors become `error: …`."""
    settings = settings_from(data_dir)
    return run(ask_hub(settings, hub, operation, {k: v for k, v in request.items() if v is not None}))


def _written(answer: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        echo_json(answer)
    else:
        console.print(f"{what}: event [bold]{answer['id']}[/] ({answer['stream']} #{answer['seq']})")


def _severity(value: str | None) -> str:
    return f"[{_COLOURS.get(value or '', 'dim')}]{value or ''}[/]"


def _pairs(values: list[str]) -> dict[str, str]:
    """`key=value` options as a dict."""
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"expected key=value, got {item!r}")
        pairs[key] = value
    return pairs


# What fits 80 columns of a hub's risks and alerts; --wide adds when, the owner and the id.
_KEEP = ["severity", "status", "title", "entity"]


def risks(
    hub: str = HubArg,
    status: str | None = typer.Option(None, help="surfaced | mitigated | escalated | accepted"),
    limit: int = typer.Option(100, help="at most this many, newest first"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """A hub's risks, newest first."""
    answer = _call(data_dir, hub, "get_risks", {"status": status, "limit": limit})
    if as_json:
        return echo_json(answer["risks"])
    rows = [
        [r["surfaced_at"], _severity(r["severity"]), r["status"], r["title"], r["entity"], r["owner"], r["risk_id"]]
        for r in answer["risks"]
    ]
    columns = ["surfaced", "severity", "status", "title", "entity", "owner", "id"]
    show_table(f"{hub} risks", columns, rows, keep=_KEEP, wide=wide, whole=["severity", "id"])


def alerts(
    hub: str = HubArg,
    status: str | None = typer.Option(None, help="raised | acknowledged | resolved"),
    limit: int = typer.Option(100, help="at most this many, newest first"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """A hub's alerts, newest first."""
    answer = _call(data_dir, hub, "get_alerts", {"status": status, "limit": limit})
    if as_json:
        return echo_json(answer["alerts"])
    rows = [
        [a["raised_at"], _severity(a["severity"]), a["status"], a["title"], a["entity"], a["alert_id"]]
        for a in answer["alerts"]
    ]
    columns = ["raised", "severity", "status", "title", "entity", "id"]
    show_table(f"{hub} alerts", columns, rows, keep=_KEEP, wide=wide, whole=["severity", "id"])


def escalations(
    hub: str = HubArg,
    status: str | None = typer.Option(None, help="raised | resolved"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Issues escalated to a hub, newest first."""
    answer = _call(data_dir, hub, "get_escalations", {"status": status})
    if as_json:
        return echo_json(answer["escalations"])
    rows = [
        [e["raised_at"], _severity(e["severity"]), e["status"], e["title"], e["from_hub"], e["escalation_id"]]
        for e in answer["escalations"]
    ]
    columns = ["raised", "severity", "status", "title", "from", "id"]
    keep = ["severity", "status", "title", "from"]
    show_table(f"{hub} escalations", columns, rows, keep=keep, wide=wide, whole=["severity", "id"])


def escalate(
    hub: str = HubArg,
    title: str = typer.Argument(..., help="what needs a decision"),
    severity: str = typer.Option("high", help="info | low | medium | high | critical"),
    reason: str | None = typer.Option(None, help="why it goes up"),
    from_hub: str | None = typer.Option(None, "--from-hub", help="the hub escalating"),
    cause: str | None = typer.Option(None, help="the id of the event that caused it"),
    subject: str | None = typer.Option(None, help="the entity concerned, e.g. service/gitea"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Escalate an issue to a hub; prints the escalation's event id."""
    request = {"title": title, "severity": severity, "reason": reason, "from_hub": from_hub}
    request |= {"cause_event_id": cause, "subject": subject}
    _written(_call(data_dir, hub, "escalate_issue", request), "escalated", as_json)


@capability_app.command("list")
def capability_list(
    hub: str = HubArg,
    requests: bool = typer.Option(False, "--requests", help="list the requests instead of the catalog"),
    status: str | None = typer.Option(None, help="with --requests: requested | accepted | in-progress | done …"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """The capabilities a hub offers, or (--requests) the requests made of it."""
    if requests:
        answer = _call(data_dir, hub, "list_capability_requests", {"status": status})["requests"]
        rows = [
            [r["requested_at"], r["capability"], r["status"], r["summary"], r["requested_by"], r["request_id"]]
            for r in answer
        ]
        columns = ["requested", "capability", "status", "summary", "by", "id"]
    else:
        answer = _call(data_dir, hub, "list_capabilities", {})["capabilities"]
        rows = [[c["capability"], c["description"], ", ".join(c["tags"] or []), c["registered_by"]] for c in answer]
        columns = ["capability", "description", "tags", "registered by"]
    if as_json:
        return echo_json(answer)
    console.print(table(f"{hub} capability {'requests' if requests else 'catalog'}", columns, rows))


@capability_app.command("register")
def capability_register(
    hub: str = HubArg,
    capability: str = typer.Argument(..., help="a slug, e.g. provision-vm"),
    description: str | None = typer.Option(None, help="what the capability does"),
    tag: list[str] = typer.Option([], "--tag", help="a tag (repeatable)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Offer a capability on a hub."""
    request = {"capability": capability, "description": description, "tags": tag}
    _written(_call(data_dir, hub, "register_capability", request), "registered", as_json)


@capability_app.command("request")
def capability_request(
    hub: str = HubArg,
    capability: str = typer.Argument(..., help="one the hub offers (see `vsmesh capability list HUB`)"),
    summary: str | None = typer.Option(None, help="what is wanted, in a line"),
    param: list[str] = typer.Option([], "--param", help="a parameter as key=value (repeatable)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Request a capability of a hub; prints the request's event id."""
    request = {"capability": capability, "summary": summary, "parameters": _pairs(param)}
    _written(_call(data_dir, hub, "request_capability", request), "requested", as_json)


@capability_app.command("update")
def capability_update(
    hub: str = HubArg,
    request_id: str = typer.Argument(..., help="the request's event id"),
    status: str = typer.Argument(..., help="accepted | in-progress | done | rejected | cancelled"),
    note: str | None = typer.Option(None, help="a line on why"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Move a capability request on."""
    request = {"request_id": request_id, "status": status, "note": note}
    _written(_call(data_dir, hub, "update_capability_request", request), status, as_json)


@message_app.command("send")
def message_send(
    hub: str = HubArg,
    to: str = typer.Argument(..., help="a hub slug or an actor"),
    body: str = typer.Argument(..., help="the message"),
    title: str | None = typer.Option(None, help="a subject line"),
    priority: str = typer.Option("normal", help="low | normal | high | urgent"),
    reply_to: str | None = typer.Option(None, "--reply-to", help="the id of the message answered"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Send a message through a hub; prints its event id."""
    request = {"to": to, "body": body, "title": title, "priority": priority, "reply_to": reply_to}
    _written(_call(data_dir, hub, "send_message", request), "sent", as_json)


@message_app.command("list")
def message_list(
    hub: str = HubArg,
    to: str | None = typer.Option(None, help="only messages to this hub or actor"),
    unread: bool = typer.Option(False, "--unread", help="only messages not read yet"),
    thread: str | None = typer.Option(None, help="only this thread (the id of its first message)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Messages a hub holds, newest first."""
    answer = _call(data_dir, hub, "get_messages", {"to": to, "unread": unread, "thread": thread})["messages"]
    if as_json:
        return echo_json(answer)
    rows = [
        [
            m["sent_at"],
            m["sent_by"],
            m["recipient"],
            m["title"] or m["body"][:60],
            m["read_at"] or "unread",
            m["message_id"],
        ]
        for m in answer
    ]
    console.print(table(f"{hub} messages", ["sent", "from", "to", "message", "read", "id"], rows))


@message_app.command("read")
def message_read(
    hub: str = HubArg,
    message_id: str = typer.Argument(..., help="the message's event id"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Mark a message read."""
    _written(_call(data_dir, hub, "mark_message_read", {"message_id": message_id}), "read", as_json)


def add_core_commands(app: typer.Typer) -> None:
    """Register the core commands on the `vsmesh` application."""
    for command in (risks, alerts, escalations, escalate):
        app.command()(command)
    app.add_typer(capability_app, name="capability")
    app.add_typer(message_app, name="message")
