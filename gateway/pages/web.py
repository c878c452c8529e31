"""The pages' routes: server-rendered HTML per horizon, a server-sent-event stream per page, event pages.

Read-only but for two things a signed-in person does as themselves: approve or deny a held call on the
constitutional page (`decide`), and silence an event's notifications on its page (`silence`); every other write
stays with the CLI, MCP and the contracts. A browser on this machine reads them
without signing in (a banner says so); any other address must sign in with the gateway's issuer first
(identity/signin.py): without a session it is sent to the sign-in, and its event streams are refused.
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any

import jinja2
import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from vsmesh.bus.contract_client import ask
from vsmesh.errors import ContractError, NotFound
from vsmesh.gateway.identity.signin import SignIn, from_loopback, origin_of
from vsmesh.gateway.pages.live import AppliedFeed
from vsmesh.gateway.pages.page import Asker, KeyedList, Page
from vsmesh.gateway.pages.pages import PAGES, hub_template_dirs, sections, words
from vsmesh.gateway.pages.silence import event_facts, silence_request, silences_on
from vsmesh.gateway.pages.views import LiveViews
from vsmesh.gateway.pages.when import when
from vsmesh.hubs.canon.approvals import decision_call
from vsmesh.hubs.trace import trace

log = structlog.get_logger(__name__)


def sse(event: str, data: str) -> str:
    """One server-sent event; each line of `data` on a `data:` line of its own (the browser joins them)."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


HERE = Path(__file__).parent
KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle event stream


class Pages:
    """Everything a page needs: the mesh connection (contracts), the applied feed, the engine (traces)."""

    def __init__(
        self, nc: Client, feed: AppliedFeed, engine: AsyncEngine | None = None, sign_in: SignIn | None = None
    ) -> None:
        self.nc, self.feed, self.engine, self.sign_in = nc, feed, engine, sign_in
        loader = jinja2.FileSystemLoader([HERE / "templates", *hub_template_dirs()])
        self.templates = Jinja2Templates(env=jinja2.Environment(loader=loader, autoescape=True))
        self.templates.env.filters.update(when=when, words=words)  # times as people read them; keys as words
        self.views = LiveViews(feed, Asker(nc), self._load, self._parts, self._item)

    def routes(self) -> list[Route | Mount]:
        signing = self.sign_in.routes() if self.sign_in else []
        return [
            *signing,  # before `/{slug}`, which would take /signin
            Route("/", self._admitted(self.index)),
            Route("/event/{event_id}", self._admitted(self.event)),
            Route("/event/{event_id}/silence", self._admitted(self.silence), methods=["POST"]),
            Route("/approvals/{approval_id}/{decision:str}", self._admitted(self.decide), methods=["POST"]),
            Route("/{slug}", self._admitted(self.page)),
            Route("/{slug}/live", self._admitted(self.live, stream=True)),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]

    def _admitted(self, handler, *, stream: bool = False):
        """`handler` for a browser on this machine or a signed-in person; anyone else is sent to sign in
        (an event stream is refused: EventSource cannot follow a sign-in)."""

        async def admit(request: Request) -> Response:
            viewer = await self.sign_in.viewer(request) if self.sign_in else None
            request.state.viewer = viewer
            if viewer is None and not from_loopback(request):
                if stream or self.sign_in is None:
                    why = "sign in first" if self.sign_in else "served to this machine only"
                    return Response(why, status_code=401 if self.sign_in else 403)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?next={urllib.parse.quote(target)}", status_code=303)
            return await handler(request)

        return admit

    async def index(self, request: Request) -> Response:
        return self._render(request, "index.html", {"title": "vsmesh", "page": None})

    async def page(self, request: Request) -> Response:
        page = PAGES.get(request.path_params["slug"])
        if page is None:
            return self._error(request, 404, f"no page {request.path_params['slug']!r}; the pages: {', '.join(PAGES)}")
        as_of = request.query_params.get("as_of") or None
        before = request.query_params.get("before") or None  # the audit's older page (constitutional)
        read_at = time.time()  # its live stream sends nothing read before this (gateway/pages/views.py)
        try:
            data = await self._load(page, Asker(self.nc, as_of, before))
        except ContractError as e:
            status = {"not_found": 404, "invalid_request": 400}.get(e.code, 503)
            return self._error(request, status, f"{page.title}: {e}")
        context = {"title": page.title, "page": page, "as_of": as_of, "before": before, "read_at": read_at, **data}
        if request.query_params.get("fragment"):
            return self._render(request, page.template, {**context, "fragment": True})
        return self._render(request, page.template, context)

    async def _load(self, page: Page, ask_: Asker | None = None) -> dict[str, Any]:
        """Every contract call of the page (live, unless `ask_` names a copy or a page of the audit)."""
        data = await page.load(ask_ or Asker(self.nc))
        if page.template == "summary.html":
            data["scalars"], data["tables"] = sections(data["summary"])
        return data

    def _parts(self, page: Page, data: dict[str, Any], skip: set[str]) -> dict[str, str]:
        """The live page's parts, by element id: its `part_*` blocks (each one element with that id; those in
        `skip` left out), or the whole content as `<main id="content">` for a page without parts."""
        template = self.templates.get_template(page.template)
        context = template.new_context({"page": page, "as_of": None, "before": None, "fragment": True, **data})
        names = [name for name in template.blocks if name.startswith("part_")]
        if not names:
            return {"content": '<main id="content">' + "".join(template.blocks["content"](context)) + "</main>"}
        wanted = [name for name in names if name.removeprefix("part_") not in skip]
        return {name.removeprefix("part_"): "".join(template.blocks[name](context)) for name in wanted}

    def _item(self, kl: KeyedList, item: dict[str, Any]) -> str:
        """One item of a keyed list, rendered by its macro (pages.KeyedList)."""
        file, macro = kl.macro
        return str(getattr(self.templates.get_template(file).module, macro)(item))

    async def live(self, request: Request) -> Response:
        """`text/event-stream`: a `patch` event with the page's parts that changed, whenever a hub of the page
        applied something (gateway/pages/views.py: rendered once per page kind, whatever number of browsers)."""
        page = PAGES.get(request.path_params["slug"])
        if page is None:
            return Response(status_code=404)
        try:
            since = float(request.query_params.get("since") or 0.0)
        except ValueError:
            return Response("since: not a time in seconds; reload the page for its live stream", status_code=400)

        async def stream():
            yield ": live\n\n"
            # Waiting inside the views, not around them: a timeout around an async generator's step would close it.
            async for parts in self.views.follow(page, idle_s=KEEPALIVE_S, since=since):
                yield ": keepalive\n\n" if parts is None else sse("patch", parts)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def decide(self, request: Request) -> Response:
        """A person's approval or denial of a held call (the constitutional page's buttons), as that person: a
        browser on this machine reads without signing in, but only a signed-in person decides."""
        refused = self._not_a_person(request, "decides a held call")
        if refused is not None:
            return refused
        viewer = request.state.viewer
        form = await request.form()
        approval_id, decision = request.path_params["approval_id"], request.path_params["decision"]
        digest, reason = (str(form.get(k) or "") or None for k in ("arguments_hash", "reason"))
        try:
            await ask(self.nc, "canon-hub", *decision_call(approval_id, decision, viewer.subject, viewer.kind,
                                                           "pages", digest, reason))  # fmt: skip
        except ContractError as e:
            return self._error(request, 409, f"approval {approval_id} not decided: {e}")
        log.info("held call decided on the page", approval=approval_id, decision=decision, actor=viewer.subject)
        return RedirectResponse("/constitutional", status_code=303)

    def _not_a_person(self, request: Request, what: str) -> Response | None:
        """A refusal unless a signed-in person sent the form from this gateway's own page: a browser on this
        machine reads without signing in, but only a person acts, as themselves."""
        viewer = request.state.viewer
        if viewer is None or viewer.kind != "human":
            who = "nobody is signed in" if viewer is None else f"{viewer.subject} is no person"
            return self._error(request, 403, f"only a signed-in person {what} ({who}): sign in first")
        if request.headers.get("origin", origin_of(request)) != origin_of(request):
            return self._error(request, 403, f"only a form of this gateway's own pages {what}")
        return None

    async def silence(self, request: Request) -> Response:
        """A person's silence of what the event's notifications would tell (the event page's form), as that person."""
        refused = self._not_a_person(request, "sets a silence")
        if refused is not None:
            return refused
        viewer, event_id = request.state.viewer, request.path_params["event_id"]
        try:
            asked = silence_request(await request.form(), event_id, viewer.subject, viewer.kind)
            answer = await ask(self.nc, "canon-hub", "set_silence", asked)
        except ValueError as e:
            return self._error(request, 400, f"not silenced: {e}")
        except ContractError as e:
            return self._error(request, 400 if e.code == "invalid_request" else 503, f"not silenced: {e}")
        log.info("silence set on the page", event_id=event_id, silence=answer["id"], actor=viewer.subject)
        return RedirectResponse(f"/event/{event_id}?silenced={urllib.parse.quote(answer['id'])}", status_code=303)

    async def event(self, request: Request) -> Response:
        """An event and the causation chain it belongs to (`vsmesh trace` on a page), and the silences on its
        notifications with a form to set one."""
        event_id = request.path_params["event_id"]
        chain: dict[str, Any] | None = None
        reason = None
        if self.engine is not None:
            try:
                chain = await trace(self.engine, event_id)
            except NotFound as e:
                reason = str(e)
        facts = await event_facts(self.engine, chain, event_id)
        try:
            silences = silences_on((await ask(self.nc, "canon-hub", "get_silences", {}))["silences"], facts)
        except ContractError:
            silences = []  # canon-hub away a moment: the page still shows the event and the form
        context = {"title": f"event {event_id}", "page": None, "event_id": event_id, "chain": chain, "reason": reason,
                   "facts": facts, "silences": silences, "silenced": request.query_params.get("silenced")}  # fmt: skip
        return self._render(request, "event.html", context)

    def _render(self, request: Request, template: str, context: dict[str, Any]) -> Response:
        viewer = getattr(request.state, "viewer", None)
        shared = {"pages": PAGES, "viewer": viewer, "can_sign_in": self.sign_in is not None}
        return self.templates.TemplateResponse(request, template, {**shared, **context})

    def _error(self, request: Request, status: int, message: str) -> HTMLResponse:
        log.warning("page not rendered", path=request.url.path, status=status, error=message)
        response = self._render(request, "error.html", {"title": "vsmesh", "page": None, "message": message})
        response.status_code = status
        return response
