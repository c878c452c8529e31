"""`vsmesh hook add|list|remove`: the webhooks the gateway receives at `/hooks/{source}/{name}`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from vsmesh.cli.context import guarded, settings_from
from vsmesh.cli.options import DataDir, Json

hook_app = typer.Typer(
    help="Webhooks from Alertmanager, the forge and Argo CD, received by the gateway.", no_args_is_help=True
)


@hook_app.command("add")
@guarded
def add(
    source: str = typer.Argument(
        ..., help="alertmanager, forgejo, gitea, github, argocd or webhook (Standard Webhooks)"
    ),
    name: str = typer.Argument(..., help="the hook's name in its URL, e.g. prod"),
    hub: str | None = typer.Option(None, "--hub", help="the hub its events go to [default: the source's]"),
    as_json: bool = Json,
    data_dir: Path | None = DataDir,
) -> None:
    """Register a hook: its URL, and its secret, shown this once (kept 0600 in the data dir)."""
    from vsmesh.bus.subjects import check_slug
    from vsmesh.cli.output import echo_json
    from vsmesh.sources.hooks.sources import check_hub
    from vsmesh.sources.hooks.sources import source as source_named
    from vsmesh.sources.hooks.store import Hooks

    settings = settings_from(data_dir)
    found = source_named(source)
    target = check_hub(found, check_slug(hub or found.default_hub, "hub"))
    hook = Hooks(settings.data_dir).add(found.name, name, target, found.new_secret())
    url = _url(settings.gateway_url, hook.path)
    if as_json:
        echo_json({"source": hook.source, "name": hook.name, "hub": hook.hub, "url": url, "actor": hook.actor,
                   "secret": hook.secret})  # fmt: skip
        return
    typer.echo(f"{found.title or found.name} hook {hook.key} → {hook.hub}, events by service {hook.actor}")
    typer.echo(
        f"url:    {url}" + ("" if settings.gateway_url else "  (after the gateway's URL: `vsmesh up` prints it)")
    )
    typer.echo(f"secret: {hook.secret}")
    typer.echo("The secret is shown this once; README: Integrations shows where each tool takes it.")


@hook_app.command("list")
@guarded
def list_hooks(as_json: bool = Json, data_dir: Path | None = DataDir) -> None:
    """The registered hooks (never their secrets)."""
    from vsmesh.cli.output import console, echo_json, table
    from vsmesh.sources.hooks.store import Hooks

    settings = settings_from(data_dir)
    hooks = sorted(Hooks(settings.data_dir).load().values(), key=lambda h: h.key)
    rows = [
        {"source": h.source, "name": h.name, "hub": h.hub, "url": _url(settings.gateway_url, h.path),
         "actor": h.actor, "added": dt.datetime.fromtimestamp(h.created_at, dt.UTC)}
        for h in hooks
    ]  # fmt: skip
    if as_json:
        echo_json(rows)
        return
    columns = ["source", "name", "hub", "url", "added"]  # the actor is hook-<source>-<name> (--json names it)
    shown = [[r["source"], r["name"], r["hub"], r["url"], r["added"]] for r in rows]
    console.print(table(f"{len(rows)} hooks", columns, shown, whole=("name", "hub")))


@hook_app.command("remove")
@guarded
def remove(source: str = typer.Argument(...), name: str = typer.Argument(...), data_dir: Path | None = DataDir) -> None:
    """Stop receiving: its URL answers 404 from now on, and its service client gets no new token."""
    import contextlib

    from vsmesh.errors import NotFound
    from vsmesh.gateway.identity.clients import Clients, credentials_path
    from vsmesh.sources.hooks.store import Hooks

    settings = settings_from(data_dir)
    hook = Hooks(settings.data_dir).remove(source, name)
    with contextlib.suppress(NotFound):  # registered by the gateway only once the hook received something
        Clients(settings.data_dir).remove_client(hook.actor)
    credentials_path(settings.data_dir.resolve(), hook.actor).unlink(missing_ok=True)
    typer.echo(f"hook {hook.key} removed")


def _url(gateway: str | None, path: str) -> str:
    """The hook's URL; its path alone while no mesh runs from the data dir (`vsmesh up` prints the gateway's URL)."""
    return f"{gateway.rstrip('/')}{path}" if gateway else path
