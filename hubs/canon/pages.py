"""canon-hub's page: the constitutional view (policies, mandates, held calls, escalations, alerts, silences,
refused calls and the audit of agents' actions)."""

from __future__ import annotations

import asyncio
from typing import Any

from vsmesh.gateway.pages.page import Asker, Page

AUDIT_ROWS = 50


async def constitutional(ask_: Asker) -> dict[str, Any]:
    """canon-hub's: policies with their values, mandates (who may do what, until when), the calls held for a
    person's approval, open escalations, its open alerts (a refused repository commit, drift from the
    repository), the silences people set on notifications, the calls the gateway refused, and the audit of
    agents' actions with their revert state."""
    reads = [ask_("canon-hub", "get_domain_summary"), ask_("canon-hub", "get_refusals", limit=50),
             ask_("canon-hub", "get_alerts", status="raised", limit=50),
             ask_("canon-hub", "get_approvals", status="pending", limit=50),
             ask_("canon-hub", "get_silences")]  # fmt: skip
    if not ask_.as_of:  # the audit reads the log, not a copy (a copy's page says so)
        reads.append(ask_("canon-hub", "get_agent_actions", limit=AUDIT_ROWS, before=ask_.before))
    summary, refused, alerts, held, silenced, *audit = await asyncio.gather(*reads)
    return {"summary": summary, "refusals": refused["refusals"], "alerts": alerts["alerts"],
            "approvals": held["approvals"], "silences": silenced["silences"],
            "audit": audit[0] if audit else None}  # fmt: skip


PAGES = (
    Page("constitutional", "Canon", "constitutional", ("canon-hub",), "canon-hub/constitutional.html", constitutional),
)
