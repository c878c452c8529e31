"""`vsmesh hub …`: bootstrap a hub from its manifest, and read the registry — all over NATS, no database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, echo_json, show_table, table
from vsmesh.errors import ConfigError, ContractError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.bus.publisher import Publisher
    from vsmesh.events.envelope import Event
    from vsmesh.hubs.registry.manifest_model import Manifest


hub_app = typer.Typer(
    help="Hubs from manifests: bootstrap one from a file, list and show the registry.", no_args_is_help=True
)


def plan(manifest: Manifest, hubs: list[dict[str, Any]], publisher: Publisher) -> list[Event]:
    """The events that bring the registry to this manifest; none when it is already there.

    Ids are content hashes, so a re-run (or a retry) never stores an event twice.
    ConfigError, naming both hubs, when another hub's active manifest claims one of its event types.
    """
    from vsmesh.events.governance import REGISTRY_HUB, registry_entity
    from vsmesh.hubs.registry.manifest_model import content_id
    from vsmesh.hubs.registry.projector import conflict_message, conflicts

    slug = manifest.slug
    claimed = {
        e: h["slug"]
        for h in hubs
        if h.get("active_manifest") and h["slug"] != slug
        for e in h["active_manifest"]["vocabulary"]["event_types"]
    }
    clashes = conflicts(claimed, slug, manifest.vocabulary.event_types)
    if clashes:
        raise ConfigError(f"refused: {conflict_message(slug, clashes)}")
    current = next((h for h in hubs if h["slug"] == slug), None) or {}
    events: list[Event] = []

    def add(event_type: str, data: dict[str, Any], *key: Any) -> None:
        # In the registry's namespace, about this hub: where only governance identities may publish.
        event_id = content_id(event_type, slug, *key)
        events.append(
            publisher.build(event_type, hub=REGISTRY_HUB, subject=registry_entity(slug), data=data, event_id=event_id)
        )

    registration = manifest.registration()
    if current.get("registered_event_id") != content_id("hub-registered", slug, registration):
        add("hub-registered", registration, registration)
    active = current.get("active_manifest") or {}
    if active.get("content_hash") != manifest.content_hash():
        revision = (current.get("revisions") or 0) + 1
        activation = {**manifest.activation(), "revision": revision}
        add("hub-manifest-activated", activation, manifest.content_hash(), revision)
    have = {w["slug"]: w["event_id"] for w in current.get("widget_list", [])}
    for w in manifest.widgets:
        data = w.model_dump(exclude_none=True)
        if have.get(w.slug) != content_id("widget-created", slug, data):
            add("widget-created", data, data)
    return events


async def _registry(nc, operation: str, request: dict[str, Any] | None = None) -> Any:
    from vsmesh.bus.contract_client import ask
    from vsmesh.hubs.registry.projector import REGISTRY_HUB

    try:
        return await ask(nc, REGISTRY_HUB, operation, request)
    except ContractError as e:
        if e.code == "not_running":
            raise ContractError("not_running", "the registry does not answer: is `vsmesh up` running?") from None
        raise


async def bootstrap_manifest(settings: Settings, manifest: Manifest) -> dict[str, Any]:
    """Publish what the registry lacks of this manifest; the registry's view of the hub afterwards."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher

    nc = await connect(settings, name="vsmesh-hub")
    try:
        hubs = (await _registry(nc, "list_hubs"))["hubs"]
        current = next((h for h in hubs if h["slug"] == manifest.slug), None)
        if current is not None:
            detail = await _registry(nc, "get_hub", {"hub": manifest.slug})
            current["revisions"] = max((m["revision"] or 0 for m in detail["manifests"]), default=0)
            current["widget_list"] = detail["widgets"]
        publisher = Publisher(nc.jetstream(), settings)
        events = plan(manifest, hubs, publisher)
        stored = [await publisher.publish(e) for e in events]
        if not stored:
            return {"hub": manifest.slug, "published": [], "note": "already up to date"}
        wait = {stored[-1].stream: max(s.sequence for s in stored)}
        answer = await _registry(nc, "get_hub", {"hub": manifest.slug, "wait_for_seq": wait})
        mine = [m for m in answer["manifests"] if m["content_hash"] == manifest.content_hash()]
        if mine and mine[-1]["status"] == "rejected":
            raise ConfigError(f"refused by the registry: {mine[-1]['reason']}")
        return {
            "hub": manifest.slug,
            "published": [{"type": e.type, "id": e.id, "seq": s.sequence} for e, s in zip(events, stored, strict=True)],
            "active_revision": (answer.get("active_manifest") or {}).get("revision"),
            "widgets": len(answer["widgets"]),
        }
    finally:
        await nc.close()


@hub_app.command("bootstrap")
def bootstrap(
    file: str = typer.Argument(..., metavar="FILE", help="a manifest (YAML or JSON), or a shipped hub's slug"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Register a hub, activate its manifest and seed its widgets (only what changed)."""
    from vsmesh.hubs.registry.manifest_model import load_manifest, shipped

    settings = settings_from(data_dir)
    path = Path(file)
    if not path.exists() and shipped(file).exists():
        path = shipped(file)
    try:
        manifest = load_manifest(path)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    answer = run(bootstrap_manifest(settings, manifest))
    if as_json:
        echo_json(answer)
    elif not answer["published"]:
        typer.echo(f"{manifest.slug}: already up to date, nothing published")
    else:
        kinds: dict[str, int] = {}
        for p in answer["published"]:
            kinds[p["type"]] = kinds.get(p["type"], 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
        typer.echo(f"{manifest.slug}: published {summary}; manifest revision {answer['active_revision']} active, "
                   f"{answer['widgets']} widgets")  # fmt: skip


async def _ask_registry(settings: Settings, operation: str, request: dict[str, Any] | None = None) -> Any:
    from vsmesh.bus.connection import connect

    nc = await connect(settings, name="vsmesh-hub")
    try:
        return await _registry(nc, operation, request)
    finally:
        await nc.close()


def _vsm(h: dict[str, Any]) -> str:
    return " / ".join(x for x in (h.get("vsm_function"), h.get("vsm_system")) if x)


@hub_app.command("list")
def list_hubs(data_dir: Path | None = DataDir, as_json: bool = Json, wide: bool = Wide) -> None:
    """Every registered hub: identity, VSM classification, active manifest version, vocabulary size, widgets."""
    answer = run(_ask_registry(settings_from(data_dir), "list_hubs"))
    if as_json:
        echo_json(answer)
        return
    rows = []
    for h in answer["hubs"]:
        m = h.get("active_manifest") or {}
        v = m.get("vocabulary") or {}
        rows.append([h["slug"], h.get("name"), _vsm(h), h.get("hub_kind"), m.get("revision"),
                     len(v.get("event_types", [])), len(v.get("widget_types", [])), h.get("widgets")])  # fmt: skip
    columns = ["hub", "name", "VSM", "kind", "manifest", "event types", "widget types", "widgets"]
    keep = ["hub", "name", "VSM", "manifest", "widgets"]
    show_table("registered hubs", columns, rows, keep=keep, wide=wide, whole=["hub"])


@hub_app.command("show")
def show(
    hub: str = typer.Argument(..., metavar="HUB", help="a hub slug, e.g. ops-hub"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """One hub: identity, VSM classification, manifest versions, active vocabulary, widgets."""
    h = run(_ask_registry(settings_from(data_dir), "get_hub", {"hub": hub}))
    if as_json:
        echo_json(h)
        return
    m = h.get("active_manifest") or {}
    console.print(f"[bold]{h['slug']}[/] — {h.get('name') or ''}  ({h.get('hub_kind')}, {h.get('hub_family')})")
    console.print(f"VSM: {_vsm(h) or 'unclassified'}   domain: {h.get('domain') or '-'}")
    console.print(f"active manifest: revision {m.get('revision', '-')} ({m.get('horizon', '-')} horizon)")
    for kind, terms in (m.get("vocabulary") or {}).items():
        console.print(f"  {kind.replace('_', ' ')}: {', '.join(terms) or '-'}")
    versions = [[v["revision"], v["status"], v["activated_at"], v["reason"]] for v in h["manifests"]]
    console.print(table("manifest versions", ["revision", "status", "activated", "reason"], versions))
    widgets = [[w["slug"], w["widget_type"], w.get("title"), w.get("entity")] for w in h["widgets"]]
    columns = ["widget", "type", "title", "entity"]
    show_table(f"{len(widgets)} widgets", columns, widgets, keep=columns[:3], wide=wide, whole=["widget"])
