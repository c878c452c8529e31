"""dev-hub's page: the tactical view, its summary as tables."""

from __future__ import annotations

from typing import Any

from vsmesh.gateway.pages.page import Asker, Page


async def tactical(ask_: Asker) -> dict[str, Any]:
    return {"summary": await ask_("dev-hub", "get_domain_summary")}


PAGES = (Page("tactical", "Development", "tactical", ("dev-hub",), "summary.html", tactical),)
