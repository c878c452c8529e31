"""One live view per page kind: rendered once per applied batch, whatever number of browsers show it, and only
what changed is pushed to them over their event streams.

Before, every open page fetched its whole page again after each batch: five contract calls and a full
render per browser per batch. bench/now_view.py measured that fetch at p50 208 ms / p99 662 ms on this
2-core machine under load (200 services; `get_services` alone ~75–130 ms over NATS), and a cell applied
while a fetch was in flight waited for it and the next one. Now:
- a view renders when its hubs applied a batch: at once when idle, and batches arriving during a render
  make exactly one more render after it (coalesced, no settling delay);
- a page kind may update its last data from the batch's subjects alone (pages.Page.update: the operational
  page re-reads only the services a health check named) instead of asking every contract again;
- the page's parts (elements with an id) are rendered and compared with what was pushed, and only the
  changed ones go out, as one `patch` event per browser; a browser slow to read gets the latest of each part;
- after a partial update a keyed list (pages.KeyedList: the ops grid) sends only its changed items and its
  order, not the whole list (~60 KB at 200 services for one changed cell).
A full re-read still happens when a batch is not understood, and at least every FULL_EVERY_S (time alone
ages evidence: "ok 3 min ago").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from markupsafe import escape
from prometheus_client import Histogram

from vsmesh.errors import VsmeshError
from vsmesh.gateway.pages.live import AppliedFeed, Changed
from vsmesh.gateway.pages.page import Asker, KeyedList, Page, Partial

log = structlog.get_logger(__name__)

FULL_EVERY_S = 30.0  # the longest a live view goes without asking every contract again
RENDER_SECONDS = Histogram(
    "vsmesh_page_render_seconds", "a live page's render after an applied batch: contract calls, template, diff",
    ["page", "how"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)  # fmt: skip

Load = Callable[[Page], Awaitable[dict[str, Any]]]  # every contract call of the page
Render = Callable[[Page, dict[str, Any], set[str]], dict[str, str]]  # data, parts to skip -> {id: HTML}
Item = Callable[[KeyedList, dict[str, Any]], str]  # one item of a keyed list as HTML
# Partial reads of one view in flight together. One: a hub answers one request of an operation at a time
# (a nats.micro endpoint is one subscription), so more only queued there — measured with 4: a partial
# render took 508 ms on average against ~100 ms with 1 (bench/now_view.py, same loaded machine).
PARTIALS_AT_ONCE = 1


class Listener:
    """One browser's event stream: what is not yet sent to it — the latest of each part, and the items of
    each keyed list changed since (with the list's latest order).

    `since` is when its page was read (wall clock, `time.time()`): a render from a read that started earlier
    is older than what the browser shows, and would take a newer state back."""

    def __init__(self, since: float = 0.0) -> None:
        self.since = since
        self.parts: dict[str, str] = {}
        self.lists: dict[str, tuple[dict[str, str], list[str], str]] = {}  # container -> (items, order, part)
        self.ready = asyncio.Event()

    def offer(self, parts: dict[str, str], lists: dict[str, tuple[dict[str, str], list[str], str]]) -> None:
        for key, html in parts.items():
            self.parts[key] = html
            for container in [c for c, (_, _, part) in self.lists.items() if part == key]:
                del self.lists[container]  # the whole part, newer, holds them
        for container, (items, order, part) in lists.items():
            earlier = self.lists.get(container, ({}, [], part))[0]
            self.lists[container] = ({**earlier, **items}, order, part)
        self.ready.set()

    def take(self) -> str:
        """The pending patch as HTML: whole parts, then each list's changed items and order."""
        html = "".join(self.parts.values()) + "".join(
            f'<template data-list="{escape(container)}" data-order="{escape(json.dumps(order))}">'
            + "".join(items.values())
            + "</template>"
            for container, (items, order, _) in self.lists.items()
        )
        self.parts, self.lists = {}, {}
        self.ready.clear()
        return html


class LiveView:
    """A page kind's last data and parts, re-rendered when its hubs move, pushed to its listeners.

    A full read (every contract call) runs alone: partial reads in flight end first, and none starts during
    it. Partial reads (Page.update) are merged into the data as it is when their answer arrives and pushed at
    once; up to PARTIALS_AT_ONCE of them run together, never two with a key in common (an older answer must
    not land after a newer one). Batches applied meanwhile are gathered into the next read.
    """

    def __init__(self, page: Page, feed: AppliedFeed, ask_: Asker, load: Load, render: Render, item: Item) -> None:
        self.page, self.feed, self._ask = page, feed, ask_
        self._load, self._render, self._item = load, render, item
        self.listeners: set[Listener] = set()
        self.data: dict[str, Any] | None = None
        self.parts: dict[str, str] = {}
        self.part_at: dict[str, float] = {}  # when the read that last changed each part started (wall clock)
        self._stale: set[str] = set()  # parts not rendered since their list was patched item by item
        self.items: dict[str, dict[str, str]] = {}  # keyed list -> {item id: its HTML}, in order, as pushed
        self._rendered: dict[tuple[str, str], str] = {}  # an item's HTML by its list and value
        self._changed: set[str] | None = None  # subjects since the last look; None: re-read everything
        self._wanted = asyncio.Event()
        self._full_at = 0.0
        self._reading: dict[asyncio.Task, frozenset[str]] = {}  # partial reads in flight, with their keys
        self._task: asyncio.Task | None = None
        self._unwatch: Callable[[], None] | None = None

    def start(self) -> None:
        self._unwatch = self.feed.watch(self.page.hubs, self._applied)
        self._wanted.set()  # the first look reads everything
        self._task = asyncio.create_task(self._run(), name=f"live view {self.page.slug}")

    async def stop(self) -> None:
        if self._unwatch:
            self._unwatch()
        for task in [*self._reading, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _applied(self, hub: str, changed: Changed) -> None:
        if changed is None or self._changed is None:
            self._changed = None
        else:
            self._changed |= changed
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            changed, self._changed = self._changed, set()
            if changed is not None and not changed:
                continue
            try:
                partial = self._partial(changed)
                if partial is None:
                    await self._full()
                else:
                    await self._start(partial)
            except Exception:  # noqa: BLE001 - a bug must not end the view: this batch is lost, the next reads all
                log.exception("live page not refreshed; the next batch re-reads everything", page=self.page.slug)
                self._changed = None

    def _partial(self, changed: set[str] | None) -> Partial | None:
        stale = time.monotonic() - self._full_at > FULL_EVERY_S
        if changed is None or self.data is None or stale or self.page.update is None:
            return None
        return self.page.update(frozenset(changed))

    async def _full(self) -> None:
        if self._reading:
            await asyncio.wait(list(self._reading))
        started, read_at = time.perf_counter(), time.time()
        try:
            self.data = await self._load(self.page)
        except (VsmeshError, OSError) as e:  # a hub not answering now: the next batch tries again
            log.warning("live page not refreshed", page=self.page.slug, error=str(e))
            self._changed = None
            return
        self._full_at = time.monotonic()
        self._push(partial=False, read_at=read_at)
        RENDER_SECONDS.labels(self.page.slug, "full").observe(time.perf_counter() - started)

    async def _start(self, partial: Partial) -> None:
        """Start a partial read once no read of the same keys runs and fewer than PARTIALS_AT_ONCE do."""
        while True:
            blocking = [t for t, keys in self._reading.items() if keys & partial.keys]
            if not blocking and len(self._reading) < PARTIALS_AT_ONCE:
                break
            await asyncio.wait(blocking or list(self._reading), return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(self._read(partial))
        self._reading[task] = partial.keys
        task.add_done_callback(lambda done: self._reading.pop(done, None))

    async def _read(self, partial: Partial) -> None:
        started, read_at = time.perf_counter(), time.time()
        try:
            merge = await partial.read(self._ask)
        except (VsmeshError, OSError) as e:
            log.warning("live page not refreshed", page=self.page.slug, error=str(e))
            merge = None
        except Exception:  # noqa: BLE001 - as in _run: read everything instead
            log.exception("live page's partial read failed; reading everything", page=self.page.slug)
            merge = None
        if merge is None or self.data is None:  # the batch did more than it said: read everything
            self._changed = None
            self._wanted.set()
            return
        self.data = merge(self.data)
        self._push(partial=True, read_at=read_at)
        RENDER_SECONDS.labels(self.page.slug, "partial").observe(time.perf_counter() - started)

    def _push(self, *, partial: bool, read_at: float) -> None:
        """Render the parts and offer each listener those that changed since the last push (not to a browser
        whose page was read after `read_at`: it shows as much or more); after a partial update, a keyed list's
        part is not rendered: its changed items and its order go instead."""
        data = self.data or {}
        by_item = [kl for kl in self.page.lists if partial and self.items.get(kl.container) and data[kl.items]]
        skip = {kl.part for kl in by_item}
        parts = self._render(self.page, data, skip)
        fresh = {key: html for key, html in parts.items() if self.parts.get(key) != html}
        self.parts.update(parts)
        self.part_at.update(dict.fromkeys(fresh, read_at))
        self._stale = (self._stale | skip) - parts.keys()
        lists = {}
        for kl in self.page.lists:
            now = {kl.key(item): self._item_html(kl, item) for item in data[kl.items]}
            before = self.items.get(kl.container, {})
            if kl in by_item and (now.keys() != before.keys() or list(now) != list(before) or now != before):
                lists[kl.container] = ({k: h for k, h in now.items() if before.get(k) != h}, list(now), kl.part)
            self.items[kl.container] = now
        self.part_at.update({part: read_at for _, _, part in lists.values()})
        if fresh or lists:
            for listener in [each for each in self.listeners if each.since <= read_at]:
                listener.offer(fresh, lists)

    def _item_html(self, kl: KeyedList, item: dict[str, Any]) -> str:
        key = (kl.container, repr(item))
        if key not in self._rendered:
            if len(self._rendered) > 4 * len(self.data.get(kl.items) or ()) + 100:
                self._rendered.clear()  # old values of items that changed since
            self._rendered[key] = self._item(kl, item)
        return self._rendered[key]

    def missed(self, since: float) -> dict[str, str]:
        """The parts a browser whose page was read at `since` has not seen: those changed by a read that
        started later (a keyed list's part rendered whole first, if it was patched item by item)."""
        if self._stale and self.data is not None:
            self.parts.update(self._render(self.page, self.data, set()))
            self._stale = set()
        return {key: html for key, html in self.parts.items() if self.part_at.get(key, 0.0) >= since}


class LiveViews:
    """The live views of the pages open now: made for a page's first browser, stopped after its last."""

    def __init__(self, feed: AppliedFeed, ask_: Asker, load: Load, render: Render, item: Item) -> None:
        self.feed, self._ask, self._load, self._render, self._item = feed, ask_, load, render, item
        self._views: dict[str, LiveView] = {}

    async def follow(self, page: Page, *, idle_s: float, since: float = 0.0) -> AsyncIterator[str | None]:
        """Patches of `page` as HTML, as it changes since the browser's page was read at `since` (first the
        parts changed after it, when known); None after `idle_s` without any (a keep-alive for the caller).
        The wait never cancels the generator."""
        view = self._views.get(page.slug)
        if view is None:
            view = self._views[page.slug] = LiveView(page, self.feed, self._ask, self._load, self._render, self._item)
            view.start()
        listener = Listener(since)
        view.listeners.add(listener)
        missed = view.missed(since)  # between its page and its stream
        if missed:
            listener.offer(missed, {})
        try:
            while True:
                try:
                    await asyncio.wait_for(listener.ready.wait(), idle_s)
                except TimeoutError:
                    yield None
                    continue
                yield listener.take()
        finally:
            view.listeners.discard(listener)
            if not view.listeners and self._views.get(page.slug) is view:
                del self._views[page.slug]
                await view.stop()
