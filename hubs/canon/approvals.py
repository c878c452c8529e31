"""canon-hub's approvals: calls the gateway held for a person, read and decided.

A mandate's `approve` conditions make the gateway hold a matching call (`canon-approval-requested`, with the
exact arguments and their hash). A person approves or denies it here: `approve_call` must name the hash of
the arguments the person was shown, so an approval binds exactly those; the gateway then runs them once, as
the caller, with the approval as causation. Only a person decides: a request whose actor is an agent or a
service is refused (the gateway refuses them before they get here too), and so is a decision after expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import ContractError, NotFound
from vsmesh.hubs.canon.tables import approvals
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller

Status = Literal["pending", "approved", "denied", "expired", "executed", "refused", "failed"]
ApprovalId = Field(min_length=1, max_length=200, description="the approval's id (the held call's answer names it)")


def _status(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A pending approval past its expiry reads as expired: nobody can decide it any more."""
    if row["status"] == "pending" and now >= row["expires_at"]:
        return {**row, "status": "expired"}
    return row


class ApprovalRequest(ContractRequest):
    approval_id: str = ApprovalId


async def _find(ctx: HubContext, approval_id: str) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.one(conn, sa.select(approvals).where(approvals.c.approval_id == approval_id))
    if found is None:
        raise NotFound(f"canon-hub has no approval {approval_id}; see get_approvals")
    return _status(found, dt.datetime.now(dt.UTC))


async def get_approval(ctx: HubContext, request: ApprovalRequest) -> dict[str, Any]:
    """One held call: what it would run, its status, who decided, and the event it published once run."""
    return {"approval": await _find(ctx, request.approval_id)}


class ApprovalsRequest(ContractRequest):
    status: Status | None = Field(None, description="only approvals in this status (pending: still decidable)")
    holder: str | None = Field(None, description="only calls of this agent or service")
    limit: int = Field(100, ge=1, le=1000, description="the newest N")


async def get_approvals(ctx: HubContext, request: ApprovalsRequest) -> dict[str, Any]:
    """Held calls, newest first."""
    a = approvals.c
    now = dt.datetime.now(dt.UTC)
    query = sa.select(approvals).order_by(a.requested_at.desc(), a.approval_id).limit(request.limit)
    if request.holder is not None:
        query = query.where(a.holder == request.holder)
    if request.status in ("pending", "expired"):
        live = a.expires_at > now
        query = query.where(a.status == "pending", live if request.status == "pending" else sa.not_(live))
    elif request.status is not None:
        query = query.where(a.status == request.status)
    async with ctx.read() as conn:
        return {"approvals": [_status(r, now) for r in await queries.rows(conn, query)]}


class ApproveCallRequest(WriteRequest):
    approval_id: str = ApprovalId
    arguments_hash: str = Field(
        min_length=64, max_length=64, description="the arguments_hash get_approval shows: you approve exactly those"
    )
    reason: str | None = Field(None, max_length=2000)


class DenyCallRequest(WriteRequest):
    approval_id: str = ApprovalId
    reason: str = Field(min_length=1, max_length=2000, description="why, for the caller and the record")


async def _decide(
    ctx: HubContext, request: WriteRequest, approval_id: str, decision: str, digest: str | None, reason: str | None
) -> dict[str, Any]:
    if request.actor_kind != "human":
        raise ContractError(
            "people_only", f"only a person may decide an approval, not {request.actor_kind or 'an unnamed'} actor "
            f"{request.actor or ''}; sign in as yourself (`vsmesh approve` at a terminal, or the gateway as a person)",
        )  # fmt: skip
    found = await _find(ctx, approval_id)
    if found["status"] != "pending":
        raise ContractError("not_pending", f"approval {approval_id} is {found['status']}, no longer decidable")
    if digest is not None and digest != found["arguments_hash"]:
        raise ContractError(
            "arguments_changed", f"approval {approval_id} holds other arguments than those approved (hash "
            f"{found['arguments_hash']}); read them with get_approval and approve what it shows",
        )  # fmt: skip
    data = {"approval_id": approval_id, "decision": decision, "arguments_hash": found["arguments_hash"]}
    data["reason"] = reason
    ids = {"causation_id": approval_id}
    return await publish_as_caller(ctx, "canon-approval-decided", request, f"approval/{approval_id}", data, **ids)


async def approve_call(ctx: HubContext, request: ApproveCallRequest) -> dict[str, Any]:
    return await _decide(ctx, request, request.approval_id, "approved", request.arguments_hash, request.reason)


async def deny_call(ctx: HubContext, request: DenyCallRequest) -> dict[str, Any]:
    return await _decide(ctx, request, request.approval_id, "denied", None, request.reason)


def decision_call(
    approval_id: str, decision: str, who: str, kind: str, via: str, arguments_hash: str | None, reason: str | None
) -> tuple[str, dict[str, Any]]:
    """(operation, request) of a person's decision as the gateway sends it for them (pages, `vsmesh approve`)."""
    if decision not in ("approve", "deny"):
        raise ContractError("invalid_request", f"no decision {decision!r}: approve or deny")
    request = {"approval_id": approval_id, "actor": who, "actor_kind": kind, "metadata": {"via": via}}
    if decision == "approve":
        return "approve_call", {**request, "arguments_hash": arguments_hash or "", "reason": reason}
    return "deny_call", {**request, "reason": reason or ""}


def approval_reads() -> list[Operation]:
    return [
        Operation("get_approval", ApprovalRequest, get_approval, "a held call: its status and outcome",
                  callers="everyone"),
        Operation("get_approvals", ApprovalsRequest, get_approvals, "calls held for a person's approval"),
    ]  # fmt: skip


def approval_writes() -> list[Operation]:
    return [
        Operation("approve_call", ApproveCallRequest, approve_call, "a person approves a held call: it runs once",
                  writes=True, callers="people"),
        Operation("deny_call", DenyCallRequest, deny_call, "a person denies a held call: it never runs",
                  writes=True, callers="people"),
    ]  # fmt: skip
