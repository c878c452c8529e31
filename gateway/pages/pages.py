"""The now view: one page per time horizon, never mixed (each horizon's readers decide different things), each
from its own hub's contract.

A page names its horizon and the hubs it asks; it asks nothing else, so the operational page cannot show a
strategic number (ops-hub's service costs come from fin's events: that page leaves them out). Every cell
that is a judgement links to the events behind it (`/event/{id}`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from markupsafe import Markup

from vsmesh.errors import ContractUnavailable
from vsmesh.gateway.pages.hub_cards import hub_cards
from vsmesh.gateway.pages.page import Asker, Page
from vsmesh.gateway.pages.when import when
from vsmesh.hubs import discovered
from vsmesh.hubs.hub import load

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


async def with_audit_findings(ask_: Asker) -> dict[str, Any]:
    """The constitutional page: canon-hub's, and beside it the independent audit's open findings."""
    canon, findings = await asyncio.gather(constitutional(ask_), audit_findings(ask_))
    return {**canon, "findings": findings}


async def audit_findings(ask_: Asker) -> list[dict[str, Any]] | None:
    """The independent audit's open findings (aud-hub reports to the policy level); None when it does not answer
    (not run by this deployment) or the page is of a point-in-time copy (canon's copy is not aud-hub's)."""
    if ask_.as_of:
        return None
    try:
        return (await ask_("aud-hub", "get_findings", status="open", limit=AUDIT_ROWS))["findings"]
    except ContractUnavailable:
        return None


async def hubs(ask_: Asker) -> dict[str, Any]:
    """Every hub: the coded ones and the registry beside those the registry lists, each manifest in words."""
    listed = await ask_("registry", "list_hubs")
    return {"hubs": hub_cards(listed["hubs"])}


HORIZONS = ("operational", "tactical", "strategic", "constitutional", "mesh")  # the order of the pages' menu


def hub_pages() -> list[Page]:
    """The pages the installed hubs declare (each hub's `pages.py`)."""
    return [page for declared in discovered().values() if declared.pages for page in load(declared.pages)]


def hub_template_dirs() -> list[Path]:
    """Each hub's `templates/` beside its `pages.py`, holding its templates in a folder named by its slug
    (`ops-hub/operational.html`), so two hubs' templates never shadow each other."""
    modules = (load(declared.pages.partition(":")[0]) for declared in discovered().values() if declared.pages)
    return [folder for m in modules if (folder := Path(m.__file__).parent / "templates").is_dir()]


PAGES = {
    p.slug: p
    for p in sorted(
        (
            *hub_pages(),
            Page(
                "constitutional",
                "Canon",
                "constitutional",
                ("canon-hub", "aud-hub"),
                "constitutional.html",
                with_audit_findings,
            ),
            Page("hubs", "Hubs", "mesh", ("registry",), "hubs.html", hubs),
        ),
        key=lambda p: HORIZONS.index(p.horizon) if p.horizon in HORIZONS else len(HORIZONS),
    )
}


def sections(summary: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, list[str], list[list[Any]]]]]:
    """A summary as (scalars, tables): each list of records becomes a table of its own (the CLI's rendering)."""
    scalars = [(k, v) for k, v in summary.items() if not isinstance(v, list | dict)]
    tables = []
    for key, value in summary.items():
        if isinstance(value, dict):
            tables.append((key, ["", "value"], [[k, _flat(v)] for k, v in value.items()]))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(c for row in value for c in row))
            tables.append((key, columns, [[_flat(row.get(c)) for c in columns] for row in value]))
        elif isinstance(value, list):
            scalars.append((key, _flat(value) or "—"))
    return scalars, tables


def words(key: str) -> str:
    """A summary's key as a heading: `open_blockers` -> `Open blockers`."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _flat(value: Any) -> Any:
    """A nested value as one cell's text, any time in it worded (gateway/pages/when.py)."""
    if isinstance(value, list):
        return Markup(", ").join(when(v) for v in value)
    if isinstance(value, dict):
        return Markup("; ").join(Markup("{}: {}").format(k, when(v)) for k, v in value.items())
    return value
