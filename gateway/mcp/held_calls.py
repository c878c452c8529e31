"""Calls held for a person's approval, and run once when one approves (gateway/mcp/approvals.py folds them).

A call an approve condition of the caller's mandate chain holds is answered with its approval id and not
run; the gateway publishes `canon-approval-requested` with the exact arguments and their hash. Asking again
with the same arguments while it waits answers the same approval. When a person's approval reaches the
log, the gateway runs those arguments once, as the caller, with the approval as causation — after checking
again that the approval names exactly those arguments, has not expired, and that the caller's mandates and
caps still allow the call — and publishes `canon-approval-executed` with the outcome. A run the gateway
refuses is also a `canon-call-refused`.

Once, also across a crash: before it runs a call the gateway claims the approval in its bucket (gateway/mcp/
run_claims.py), with the stream heads of that moment, and the call's event gets an id derived from the approval.
A gateway that finds the claim but no outcome on the log (it died between running the call and recording it)
looks for that event past those heads: found, it records the outcome with it; not found, it runs the call again
with the same id, so a first run still on its way is stored once (JetStream's duplicate window). The outcome's
id is derived too, so it is recorded once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Protocol

import mcp_types as types
import msgspec
import structlog

from vsmesh.errors import ContractError
from vsmesh.events.envelope import Event, new_event_id
from vsmesh.events.schemas.mandate_terms import Condition, arguments_hash
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.mcp.approvals import Approval
from vsmesh.gateway.mcp.cap_store import CapStore
from vsmesh.gateway.mcp.caps import CapMeter, Spend
from vsmesh.gateway.mcp.mandates import CANON_HUB, Decision, MandateFollower
from vsmesh.gateway.mcp.run_claims import CLAIMS, RunClaims
from vsmesh.gateway.mcp.tools import Tool, tool_name
from vsmesh.projectors.couplings.coupling import derived_id
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)


class Gateway(Protocol):
    """What of the MCP gateway (mcp_server.py) held calls use."""

    settings: Settings
    tools: dict[str, Tool]
    mandates: MandateFollower
    meter: CapMeter
    caps: CapStore | None

    async def forward(
        self,
        who: Principal,
        session: str,
        tool: Tool,
        arguments: dict[str, Any],
        *,
        causation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> Any: ...

    async def refused(self, who: Principal, session: str, tool: Tool, reason: str, missing: str | None) -> None: ...

    async def publish_as(
        self, who: Principal, event_type: str, subject: str, data: dict[str, Any], session: str, **ids: Any
    ) -> Event: ...

    def spend_of(self, tool: Tool, arguments: dict[str, Any]) -> Spend | None: ...


class HeldCalls:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._running: set[asyncio.Task] = set()
        self.claims: RunClaims | None = None  # set once the gateway's bucket is open

    async def hold(
        self,
        who: Principal,
        session: str,
        tool: Tool,
        arguments: dict[str, Any],
        decision: Decision,
        condition: Condition,
    ) -> types.CallToolResult:
        """Answer a call `condition` holds: a pending approval (the same one for the same call asked again)."""
        gw = self._gateway
        now = dt.datetime.now(dt.UTC)
        digest = arguments_hash(arguments)
        found = gw.mandates.book.approvals.open_for(who.subject, tool.hub, tool.operation, digest, now)
        if found is None:
            approval_id = new_event_id()
            data = {
                "hub": tool.hub,
                "operation": tool.operation,
                "arguments": arguments,
                "arguments_hash": digest,
                "condition": condition.text,
                "mandate_id": decision.mandate_id,
                "expires_at": now + dt.timedelta(seconds=gw.settings.approval_ttl_s),
                "metadata": {"via": "mcp", "mcp_session": session},
            }
            event = await gw.publish_as(
                who, "canon-approval-requested", f"approval/{approval_id}", data, session, event_id=approval_id
            )
            gw.mandates.book.approvals.apply(event)  # asked again before the follower folds it: the same one
            found = gw.mandates.book.approvals.by_id[approval_id]
            log.info("call held for approval", actor=who.subject, tool=tool.name, approval=approval_id)
        return held_result(found)

    async def run(self, approval: Approval) -> None:
        """Run an approved call in a task of its own (the mandate follower hands it over and goes on)."""
        task = asyncio.create_task(self._run(approval), name=f"approved-{approval.approval_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, a: Approval) -> None:
        gw = self._gateway
        assert self.claims is not None
        tool = gw.tools.get(tool_name(a.hub, a.operation))
        holder = gw.mandates.book.granted.get(a.mandate_id)
        who = Principal(subject=a.holder, kind=a.holder_kind, client_id=holder.holder if holder else "")  # type: ignore[arg-type]
        session = a.session or f"approval-{a.approval_id}"
        claim = await self.claims.claim(a.approval_id, a.hub)
        if claim.earlier and (found := await self.claims.stored_effect(claim)) is not None:
            log.warning("approved call had run before the gateway stopped; its outcome is recorded now",
                        approval=a.approval_id, event_id=claim.event_id)  # fmt: skip
            await self._executed(a, who, session, tool, found)
            return
        why, decision = self._refusal(a, tool, who)
        if why is not None or tool is None or decision is None:
            reason = f"approved call {a.approval_id} not run: {why}"
            if tool is not None:
                await gw.refused(who, session, tool, reason, None)
            await self._outcome(a, who, session, {"outcome": "refused", "error": reason})
            return
        meta = {"approval_id": a.approval_id, "approved_by": a.decided_by}
        try:
            answer = await gw.forward(
                who, session, tool, a.arguments, causation_id=a.approval_id, metadata=meta, event_id=claim.event_id
            )
        except ContractError as e:
            await self._outcome(a, who, session, {"outcome": "failed", "error": f"{tool.hub} answered {e.code}: {e}"})
            return
        await self._pause("approved-call-ran", a)
        await self._executed(a, who, session, tool, answer)

    async def _executed(self, a: Approval, who: Principal, session: str, tool: Tool | None, answer: dict) -> None:
        """Count what the run spent and record its outcome with the event it stored."""
        gw = self._gateway
        if tool is None or gw.caps is None:
            return await self._outcome(a, who, session, {"outcome": "executed", **_result(answer)})
        decision = gw.mandates.book.decide(who, tool.hub, tool.operation, tool.write, dt.datetime.now(dt.UTC))
        if decision.allowed:
            gw.meter.charge(decision.chain, gw.spend_of(tool, a.arguments), dt.datetime.now(dt.UTC))
            await gw.caps.stored(decision.chain)
        await self._outcome(a, who, session, {"outcome": "executed", **_result(answer)})
        log.info("approved call run", actor=a.holder, tool=tool_name(a.hub, a.operation), approval=a.approval_id,
                 event_id=answer.get("id"))  # fmt: skip

    async def _pause(self, point: str, a: Approval) -> None:
        """Stop here for good when the settings say so: a crash test kills the gateway at this point."""
        if self._gateway.settings.pause_at == point:
            log.warning("paused (VSMESH_PAUSE_AT)", point=point, approval=a.approval_id)
            await asyncio.Event().wait()

    def _refusal(self, a: Approval, tool: Tool | None, who: Principal) -> tuple[str | None, Decision | None]:
        """Why an approved call must not run now, or (None, the decision allowing it)."""
        gw = self._gateway
        now = dt.datetime.now(dt.UTC)
        if a.decided_hash != a.arguments_hash or arguments_hash(a.arguments) != a.arguments_hash:
            return "the approval names other arguments than the held call's; changed arguments never run", None
        if now >= a.expires_at:
            return f"it expired at {a.expires_at.isoformat()} before the gateway could run it", None
        if tool is None:
            return f"the gateway serves no tool {tool_name(a.hub, a.operation)} any more", None
        decision = gw.mandates.book.decide(who, tool.hub, tool.operation, tool.write, now)
        if not decision.allowed:
            return f"missing mandate {decision.missing}: {decision.reason}", None
        cap = gw.meter.refusal(decision.chain, gw.spend_of(tool, a.arguments), now, count_call=False)
        return cap, decision

    async def _outcome(self, a: Approval, who: Principal, session: str, outcome: dict[str, Any]) -> None:
        data = {"approval_id": a.approval_id, **{k: v for k, v in outcome.items() if v is not None}}
        event = await self._gateway.publish_as(
            who, "canon-approval-executed", f"approval/{a.approval_id}", data, session, causation_id=a.approval_id,
            event_id=derived_id(CLAIMS, a.approval_id, "outcome"),
        )  # fmt: skip
        self._gateway.mandates.book.approvals.apply(event)


def _result(answer: dict[str, Any]) -> dict[str, Any]:
    return {"result_event_id": answer.get("id"), "stream": answer.get("stream"), "seq": answer.get("seq")}


def held_result(a: Approval) -> types.CallToolResult:
    """What the caller of a held call reads: not run, the approval's id, how to follow it."""
    poll = msgspec.json.encode({"approval_id": a.approval_id}).decode()
    text = (
        f"held for a person's approval {a.approval_id}: this call has NOT run ({a.condition} holds for it). A person "
        f"approves or denies it (`vsmesh approve {a.approval_id}`); once approved the gateway runs exactly these "
        f"arguments once, as you. Poll {CANON_HUB}__get_approval {poll} for its status and the event it published; "
        f"it expires at {a.expires_at.isoformat()}."
    )
    approval = {"approval_id": a.approval_id, "status": "pending", "condition": a.condition}
    approval |= {"arguments_hash": a.arguments_hash, "expires_at": a.expires_at.isoformat()}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content={"approval": approval}
    )
