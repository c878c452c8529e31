"""`vsmesh approve`, `vsmesh deny`, `vsmesh approvals`: a person decides the calls the gateway held.

A call an approve condition of an agent's mandate holds waits here (canon-hub's `get_approvals`). Approving
names the hash of the arguments shown, so what runs is exactly what the person saw; the gateway then runs
it once, as the agent. Only a person decides, signed in with `vsmesh login`: the decision goes through the
gateway as that person (`/people/decide`), never as the mesh's admin, so a process that only shares the
operator's OS user cannot approve anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import fail, guarded, is_terminal, settings_from
from vsmesh.cli.core_cmds import _call, _written
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, echo_json, show_table

CANON = "canon-hub"
ApprovalArg = typer.Argument(..., help="the approval's id (the held call's answer and `vsmesh approvals` name it)")


def _show(a: dict[str, Any]) -> None:
    console.print(
        f"[bold]{a['holder']}[/] ({a['holder_kind']}) asks to call [bold]{a['hub']}:{a['operation']}[/], held by "
        f"[italic]{a['condition']}[/]; status [bold]{a['status']}[/], expires {a['expires_at']}"
    )
    console.print_json(data=a["arguments"])


def approve(
    approval_id: str = ApprovalArg,
    reason: str | None = typer.Option(None, help="why, for the record"),
    yes: bool = typer.Option(False, "--yes", help="approve without asking (scripts)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Approve a held call: the gateway runs exactly the arguments shown, once, as its caller."""
    found = _call(data_dir, CANON, "get_approval", {"approval_id": approval_id})["approval"]
    if not as_json:
        _show(found)
    if found["status"] != "pending":
        raise fail(f"approval {approval_id} is {found['status']}, no longer decidable")
    if is_terminal() and not yes and not typer.confirm("approve exactly these arguments?"):
        raise typer.Exit(1)
    request = {"approval_id": approval_id, "arguments_hash": found["arguments_hash"], "reason": reason}
    _written(_as_person(data_dir, "approve", request), "approved", as_json)


def deny(
    approval_id: str = ApprovalArg,
    reason: str = typer.Option(..., help="why, for the agent and the record"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Deny a held call: it never runs."""
    _written(_as_person(data_dir, "deny", {"approval_id": approval_id, "reason": reason}), "denied", as_json)


@guarded
def _as_person(data_dir: Path | None, decision: str, request: dict[str, Any]) -> dict[str, Any]:
    """The decision sent through the gateway as the person signed in here; refused when nobody is."""
    from vsmesh.cli.session import call_gateway, signed_in

    settings = settings_from(data_dir)
    session = signed_in(settings)
    if session is None:
        raise fail("deciding a held call needs a signed-in person: run `vsmesh login` (agents never decide)")
    return call_gateway(settings, session, "/people/decide", {**request, "decision": decision})


def approvals(
    status: str | None = typer.Option(
        "pending", help="pending | approved | denied | expired | executed | refused | failed; `all` for every one"
    ),  # fmt: skip
    holder: str | None = typer.Option(None, help="only this agent's or service's calls"),
    limit: int = typer.Option(100, help="at most this many, newest first"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Calls held for a person's approval, newest first (pending ones unless --status says otherwise)."""
    request = {"status": None if status == "all" else status, "holder": holder, "limit": limit}
    found = _call(data_dir, CANON, "get_approvals", request)["approvals"]
    if as_json:
        return echo_json(found)
    rows = [
        [a["requested_at"], a["holder"], f"{a['hub']}:{a['operation']}", a["status"], a["condition"],
         a["expires_at"], a["decided_by"], a["approval_id"]]
        for a in found
    ]  # fmt: skip
    columns = ["requested", "holder", "call", "status", "condition", "expires", "decided by", "id"]
    keep = ["holder", "call", "status", "id"]
    show_table("held calls", columns, rows, keep=keep, wide=wide, whole=["holder", "call", "id"])
