"""The now view: one page per time horizon, never mixed (each horizon's readers decide different things), each
from its own hub's contract.

A page names its horizon and the hubs it asks; it asks nothing else, so the operational page cannot show a
strategic number (ops-hub's service costs come from fin's events: that page leaves them out). Every cell
that is a judgement links to the events behind it (`/event/{id}`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from vsmesh.gateway.pages.hub_cards import hub_cards
from vsmesh.gateway.pages.page import Asker, Page, Section, with_sections
from vsmesh.gateway.pages.when import when
from vsmesh.hubs import discovered
from vsmesh.hubs.hub import load


async def hubs(ask_: Asker) -> dict[str, Any]:
    """Every hub: the coded ones and the registry beside those the registry lists, each manifest in words."""
    listed = await ask_("registry", "list_hubs")
    return {"hubs": hub_cards(listed["hubs"])}


HORIZONS = ("operational", "tactical", "strategic", "constitutional", "mesh")  # the order of the pages' menu


def hub_pages() -> list[Page]:
    """The pages the installed hubs declare (each hub's `pages.py`), each with the sections other hubs declare
    for its horizon."""
    declared = [part for hub in discovered().values() if hub.pages for part in load(hub.pages)]
    sections = [s for s in declared if isinstance(s, Section)]
    return [with_sections(p, [s for s in sections if s.horizon == p.horizon]) for p in declared if isinstance(p, Page)]


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
