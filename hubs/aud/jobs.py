"""aud-hub's timed job: the audit, every `VSMESH_AUDIT_EVERY_S`, through the hub's own contract (`run_audit`), so
it reads and publishes as aud-hub's service identity whichever process holds the job's lease."""

from __future__ import annotations

import structlog

from vsmesh.bus.contract_client import ask
from vsmesh.hubs.hub import Job, JobContext

log = structlog.get_logger(__name__)
# Rebuilding every hub into a copy takes a while on a big mesh; the contract's default 10 s would give up first.
TIMEOUT_S = 600.0


async def audit(ctx: JobContext) -> None:
    if not ctx.state.setdefault("waited", False):
        # Not at start: then every hub is catching up (and the demo publishing), and an audit would rebuild each
        # one beside it for nothing. The first runs one period later; `vsmesh audit run` any time.
        ctx.state["waited"] = True
        return
    answer = await ask(ctx.nc, ctx.hub, "run_audit", {}, timeout=TIMEOUT_S)
    log.info(
        "audit ran",
        hub=ctx.hub,
        passed=answer["passed"],
        raised=len(answer["raised"]),
        resolved=len(answer["resolved"]),
    )


JOBS = (Job("audit", audit, every_s=lambda settings: settings.audit_every_s),)
