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
  changed ones go out, as one `patch` event per browser; a browser slow to read gets the latest of each part.
A full re-read still happens when a batch is not understood, and at least every FULL_EVERY_S (time alone
ages evidence: "ok 3 min ago").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import Histogram

from vsmesh.errors import VsmeshError
from vsmesh.gateway.live import AppliedFeed, Changed
from vsmesh.gateway.pages import Page

log = structlog.get_logger(__name__)

FULL_EVERY_S = 30.0  # the longest a live view goes without asking every contract again
RENDER_SECONDS = Histogram(
    "vsmesh_page_render_seconds", "a live page's render after an applied batch: contract calls, template, diff",
    ["page", "how"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)  # fmt: skip

Load = Callable[[Page], Awaitable[dict[str, Any]]]  # every contract call of the page
Update = Callable[[Page, dict[str, Any], frozenset[str]], Awaitable[dict[str, Any] | None]]
Render = Callable[[Page, dict[str, Any]], dict[str, str]]  # data -> {element id: its HTML}


class Listener:
    """One browser's event stream: the parts not yet sent to it, the latest of each."""

    def __init__(self) -> None:
        self.pending: dict[str, str] = {}
        self.ready = asyncio.Event()

    def offer(self, parts: dict[str, str]) -> None:
        self.pending.update(parts)
        self.ready.set()

    def take(self) -> dict[str, str]:
        parts, self.pending = self.pending, {}
        self.ready.clear()
        return parts


class LiveView:
    """A page kind's last data and parts, re-rendered when its hubs move, pushed to its listeners."""

    def __init__(self, page: Page, feed: AppliedFeed, load: Load, update: Update | None, render: Render) -> None:
        self.page, self.feed = page, feed
        self._load, self._update, self._render = load, update, render
        self.listeners: set[Listener] = set()
        self.data: dict[str, Any] | None = None
        self.parts: dict[str, str] = {}
        self._changed: set[str] | None = set()  # subjects since the last render; None: re-read everything
        self._wanted = asyncio.Event()
        self._full_at = 0.0
        self._task: asyncio.Task | None = None
        self._unwatch: Callable[[], None] | None = None

    def start(self) -> None:
        self._unwatch = self.feed.watch(self.page.hubs, self._applied)
        self._changed = None  # the first render reads everything
        self._wanted.set()
        self._task = asyncio.create_task(self._run(), name=f"live view {self.page.slug}")

    async def stop(self) -> None:
        if self._unwatch:
            self._unwatch()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
            try:
                await self._refresh(changed)
            except (VsmeshError, OSError) as e:  # a hub not answering now: the next batch tries again
                log.warning("live page not refreshed", page=self.page.slug, error=str(e))
                self._changed = None

    async def _refresh(self, changed: set[str] | None) -> None:
        started = time.perf_counter()
        full = changed is None or self.data is None or time.monotonic() - self._full_at > FULL_EVERY_S
        data = None
        if not full and self._update is not None:
            data = await self._update(self.page, self.data, frozenset(changed)) if changed else self.data
        if data is None:
            data, full = await self._load(self.page), True
            self._full_at = time.monotonic()
        self.data = data
        parts = self._render(self.page, data)
        fresh = {key: html for key, html in parts.items() if self.parts.get(key) != html}
        self.parts = parts
        for listener in list(self.listeners):
            if fresh:
                listener.offer(fresh)
        RENDER_SECONDS.labels(self.page.slug, "full" if full else "partial").observe(time.perf_counter() - started)


class LiveViews:
    """The live views of the pages open now: made for a page's first browser, stopped after its last."""

    def __init__(self, feed: AppliedFeed, load: Load, update: Update, render: Render) -> None:
        self.feed, self._load, self._update, self._render = feed, load, update, render
        self._views: dict[str, LiveView] = {}

    async def follow(self, page: Page, *, idle_s: float) -> AsyncIterator[dict[str, str] | None]:
        """The parts of `page` that changed, as they change (all of them first, when known); None after
        `idle_s` without any (a keep-alive for the caller). The wait never cancels the generator."""
        view = self._views.get(page.slug)
        if view is None:
            view = self._views[page.slug] = LiveView(page, self.feed, self._load, self._update, self._render)
            view.start()
        listener = Listener()
        view.listeners.add(listener)
        if view.parts:  # what this browser may have missed between its page and its stream
            listener.offer(view.parts)
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
