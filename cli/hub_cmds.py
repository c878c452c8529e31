"""`vsmesh hub …`: bootstrap a hub from its manifest, and read the registry — all over NATS, no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import guarded, run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, echo_json, show_table, table
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

hub_app = typer.Typer(
    help="Hubs from manifests: bootstrap one from a file, list and show the registry.", no_args_is_help=True
)


@hub_app.command("bootstrap")
@guarded
def bootstrap(
    file: str = typer.Argument(..., metavar="FILE", help="a manifest (YAML or JSON), or a shipped hub's slug"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Register a hub, activate its manifest and seed its widgets (only what changed).

    Governance: the gateway does it as the signed-in person, who entered the password recently
    (`vsmesh login --step-up`); that person is the actor of the registry's events."""
    from vsmesh.cli.session import as_person
    from vsmesh.hubs.registry.manifest_model import load_manifest, shipped

    settings = settings_from(data_dir)
    path = Path(file)
    if not path.exists() and shipped(file).exists():
        path = shipped(file)
    try:
        manifest = load_manifest(path)  # its problems named here, by file and line, before anything is sent
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    body = {"manifest": path.read_text(), "source": str(path)}
    answer = as_person(settings, "bootstrapping a hub", "/people/bootstrap", body, governance=True)
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
    from vsmesh.hubs.registry.bootstrap import ask_registry

    nc = await connect(settings, name="vsmesh-hub")
    try:
        return await ask_registry(nc, operation, request)
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
