"""What a page is: its horizon, the hubs it asks, its template and how it loads and refreshes. A hub declares its
pages with these (its `pages.py`, a gateway-layer part of the hub, like its `cli.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from nats.aio.client import Client

from vsmesh.bus.contract_client import ask

Load = Callable[["Asker"], Awaitable[dict[str, Any]]]
Merge = Callable[[dict[str, Any]], dict[str, Any]]  # a page's data, changed by what a partial read found


@dataclass(frozen=True)
class Partial:
    """What a page re-reads after a batch it understands, instead of everything: `read` asks the contracts
    and returns how to change the page's data (applied to the data as it is when the answer arrives), or None
    when the answer shows the batch did more (read everything). `keys`: what it re-reads; two partials with
    a key in common run one after the other, so an older answer never lands after a newer one."""

    keys: frozenset[str]
    read: Callable[[Asker], Awaitable[Merge | None]]


Update = Callable[[frozenset[str]], Partial | None]  # from a batch's subjects; None: read everything


@dataclass(frozen=True)
class KeyedList:
    """A list in a part whose items a live page patches one by one (the grid's cells at 20 health checks a
    second: the whole grid of 200 services was ~60 KB per patch, for one changed cell). `macro` renders one
    item of `data[items]` as one element with the id `key(item)`, inside the element with id `container`
    (`macro`: the template file and the macro's name in it)."""

    part: str
    container: str
    items: str
    macro: tuple[str, str]
    key: Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Asker:
    """Contract calls for one page render: every read names the same point-in-time copy, if any."""

    nc: Client
    as_of: str | None = None
    before: str | None = None  # the audit's page: actions before this time (`?before=`)

    async def __call__(self, hub: str, operation: str, **request: Any) -> Any:
        if self.as_of:
            request["point_in_time"] = self.as_of
        return await ask(self.nc, hub, operation, request, timeout=5.0)


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    horizon: str  # operational, tactical, strategic, constitutional; "mesh" for the registry's page
    hubs: tuple[str, ...]  # the only hubs it asks (and whose applied batches refresh it)
    template: str
    load: Load
    update: Update | None = None  # cheaper than `load` after a batch it understands (gateway/pages/views.py)
    lists: tuple[KeyedList, ...] = ()  # patched item by item after a partial update
    sections: tuple[Section, ...] = ()  # other hubs' parts of its horizon, shown below its own


@dataclass(frozen=True)
class Section:
    """A hub's part of another hub's page: the page of its horizon asks its hubs too and includes its template
    (aud-hub's findings on canon's constitutional page)."""

    horizon: str
    hubs: tuple[str, ...]
    template: str
    load: Load


def with_sections(page: Page, sections: list[Section]) -> Page:
    """The page with the sections of its horizon: their hubs refresh it, their data joins its own."""
    if not sections:
        return page

    async def load(ask_: Asker) -> dict[str, Any]:
        own, *parts = await asyncio.gather(page.load(ask_), *(s.load(ask_) for s in sections))
        return {**own, **{k: v for part in parts for k, v in part.items()}}

    hubs = tuple(dict.fromkeys([*page.hubs, *(h for s in sections for h in s.hubs)]))
    return replace(page, hubs=hubs, load=load, sections=tuple(sections))
