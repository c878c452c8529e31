"""`vsmesh creds issue HUB`: NATS credentials for a hub's service running outside the mesh."""

from __future__ import annotations

from pathlib import Path

import msgspec
import typer

from vsmesh.cli.context import fail, guarded, settings_from
from vsmesh.cli.options import DataDir
from vsmesh.settings import Settings

creds_app = typer.Typer(help="NATS credentials for services outside the mesh.", no_args_is_help=True)


@creds_app.command("issue")
@guarded
def issue(
    hub: str = typer.Argument(..., help="the hub the service publishes for, e.g. ops-hub"),
    out: Path | None = typer.Option(None, "--out", help="write the credentials to this file (mode 0600)"),
    data_dir: Path | None = DataDir,
) -> None:
    """Create (or return) a hub's service user: it may publish only that hub's events and answer its contract."""
    from vsmesh.bus.creds import write_private
    from vsmesh.runtime.nats_server import issue_hub_creds

    settings = settings_from(data_dir, discover=False)
    _check_embedded_nats(settings)
    creds = issue_hub_creds(settings.data_dir, hub)
    body = msgspec.json.format(msgspec.json.encode(creds))
    if out is None:
        typer.echo(body.decode())
        return
    write_private(out, body + b"\n")
    typer.echo(f"credentials of {creds.user} written to {out}")


def _check_embedded_nats(settings: Settings) -> None:
    """Users are made only for the data dir's own nats-server, and only while it runs to reload them: a user
    written anywhere else would never log in."""
    from vsmesh.runtime.mesh_state import load_state, not_running, pid_alive, running

    state = load_state(settings.data_dir)
    # The URL `vsmesh env` printed is the embedded mesh's own: its users live in this data dir.
    if settings.nats_url and settings.nats_url != state.nats_url:
        raise fail("VSMESH_NATS_URL points at an outside NATS server; create users in that server's config")
    if pid_alive(state.nats_pid):
        return
    if running(state):
        where = settings.data_dir.resolve()
        raise fail(f"the mesh in {where} runs on an outside NATS server; create users in that server's config")
    raise not_running(settings.data_dir)
