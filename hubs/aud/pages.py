"""aud-hub's section of the constitutional page: the independent audit's open findings, beside canon's own."""

from __future__ import annotations

from typing import Any

from vsmesh.errors import ContractUnavailable
from vsmesh.gateway.pages.page import Asker, Section

FINDINGS_ROWS = 50


async def audit_findings(ask_: Asker) -> list[dict[str, Any]] | None:
    """The independent audit's open findings (aud-hub reports to the policy level); None when it does not answer
    (not run by this deployment) or the page is of a point-in-time copy (canon's copy is not aud-hub's)."""
    if ask_.as_of:
        return None
    try:
        return (await ask_("aud-hub", "get_findings", status="open", limit=FINDINGS_ROWS))["findings"]
    except ContractUnavailable:
        return None


async def findings(ask_: Asker) -> dict[str, Any]:
    return {"findings": await audit_findings(ask_)}


PAGES = (Section("constitutional", ("aud-hub",), "aud-hub/findings.html", findings),)
