"""`vsmesh sync REPO`: reconcile canon, budgets and the catalog with one commit of a Git repository."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from vsmesh.cli.context import fail, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import echo_json, show, table
from vsmesh.errors import CommitRefused

if TYPE_CHECKING:
    from vsmesh.settings import Settings
    from vsmesh.sources.gitops.sync import SyncResult


def sync(
    repo: str = typer.Argument(
        ..., help="a Git repository: a path, a URL (https://, git://, ssh://, file://) or a folder"
    ),
    ref: str = typer.Option("main", "--ref", help="branch, tag or commit id"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what it would publish; publish nothing"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Make the hubs hold what a commit declares (canon/, fin/budgets/, catalog/): only the differences are
    published; a commit with a file that does not validate is refused whole."""
    settings = settings_from(data_dir)
    result = run(_sync(settings, repo, ref, dry_run))
    if isinstance(result, CommitRefused):
        _refused(result, as_json)
    if as_json:
        echo_json(as_dict(result))
        return
    _show(result)


async def _sync(settings: Settings, repo: str, ref: str, dry_run: bool) -> SyncResult | CommitRefused:
    from vsmesh.bus.connection import connect
    from vsmesh.sources.gitops.sync import sync as sync_repo

    nc = await connect(settings, name="vsmesh-sync")
    try:
        return await sync_repo(nc, settings, repo, ref, dry_run=dry_run)
    except CommitRefused as e:  # every problem printed, not only the one line of other errors
        return e
    finally:
        await nc.drain()


def as_dict(result: SyncResult) -> dict[str, Any]:
    return {
        "repo": result.repo,
        "ref": result.ref,
        "commit": result.commit,
        "author": result.author,
        "dry_run": result.dry_run,
        "published": result.published,
        "drift": result.drift,
        "changes": [
            {
                "action": c.action,
                "path": c.path,
                "type": c.type,
                "subject": c.subject,
                "event_id": c.event_id,
                "drift": c.drift,
                "why": c.why,
            }  # fmt: skip
            for c in result.changes
        ],
    }


def _show(result: SyncResult) -> None:
    verb = "would publish" if result.dry_run else "published"
    head = f"{result.commit[:12]} ({result.author})"
    if not result.changes:
        typer.echo(f"sync: {head}: the hubs hold what it declares; nothing to publish")
        return
    rows = [[c.action, c.path, c.subject, c.why, "yes" if c.drift else ""] for c in result.changes]
    show(table(f"sync {head}: {verb}", ["action", "file", "subject", "what", "drift"], rows, whole=["action"]))
    count = len(result.changes) if result.dry_run else result.published
    typer.echo(f"{verb} {count} event(s)" + (f"; {result.drift} undid drift" if result.drift else ""))


def _refused(error: CommitRefused, as_json: bool) -> NoReturn:
    if as_json:
        echo_json({"refused": error.commit, "problems": error.problems, "error": str(error)})
        raise typer.Exit(1)
    for problem in error.problems:
        typer.echo(problem, err=True)
    raise fail(str(error))
