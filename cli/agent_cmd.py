"""`vsmesh agent add|list|remove`, `vsmesh user add` and `vsmesh gateway token|rotate-key`: who may get a token.

Agents and services get OAuth client credentials from the gateway's local issuer, never NATS credentials;
people get a password for the issuer's login page.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import typer

from vsmesh.cli.context import fail, guarded, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.gateway.identity.clients import AgentCredentials, credentials_path
from vsmesh.settings import Settings

agent_app = typer.Typer(help="Agents and services that call the mesh through the gateway.", no_args_is_help=True)
user_app = typer.Typer(help="People who sign in at the gateway's local issuer.", no_args_is_help=True)
gateway_app = typer.Typer(help="The HTTP gateway: tokens and signing keys.", no_args_is_help=True)


def mesh_settings(data_dir: Path | None) -> Settings:
    """Settings of the mesh running from the data dir: its issuer reads the clients, people and keys kept
    there, so writing them into a data dir no mesh runs from would change nothing anyone uses."""
    from vsmesh.runtime.mesh_state import running_state

    settings = settings_from(data_dir)
    running_state(settings.data_dir)
    return settings


@agent_app.command("add")
@guarded
def add(
    name: str = typer.Argument(..., help="the agent's name: its client id and the actor on its events"),
    kind: str = typer.Option("agent", "--kind", help="agent (an AI acting for someone) or service (a program)"),
    out: Path | None = typer.Option(None, "--out", help="credentials file (mode 0600) [default: <data dir>/agents/]"),
    data_dir: Path | None = DataDir,
) -> None:
    """Register an agent client at the local issuer and write its credentials file (mode 0600)."""
    from vsmesh.bus.creds import write_private
    from vsmesh.gateway.identity.clients import Clients

    if kind not in ("agent", "service"):
        raise fail(f"--kind {kind!r}: use agent or service")
    settings = mesh_settings(data_dir)
    secret = Clients(settings.data_dir).add_client(name, kind)  # type: ignore[arg-type]
    if settings.oidc_issuer:  # the secret is the local issuer's: useless against an outside one
        typer.echo(
            f"{name} is registered as {kind}: tokens of {settings.oidc_issuer} for client {name!r} make it one."
            f" Create the client there (README: Identity); no credentials file was written."
        )
        return
    base = settings.gateway_url
    creds = AgentCredentials(
        client_id=name,
        client_secret=secret,
        token_url=f"{base}/token" if base else None,
        issuer=base,
        kind=kind,
    )
    path = out or credentials_path(settings.data_dir.resolve(), name)
    write_private(path, msgspec.json.format(msgspec.json.encode(creds)) + b"\n")
    typer.echo(f"{kind} {name} registered; credentials (client id, secret, token URL) written to {path}")


@agent_app.command("list")
@guarded
def list_agents(as_json: bool = Json, data_dir: Path | None = DataDir) -> None:
    """Registered agents and services (never their secrets)."""
    from vsmesh.cli.output import console, echo_json, table
    from vsmesh.gateway.identity.clients import Clients

    settings = mesh_settings(data_dir)
    clients = sorted(Clients(settings.data_dir).load().clients.values(), key=lambda c: c.client_id)
    rows = [
        {"name": c.client_id, "kind": c.kind, "registered": dt.datetime.fromtimestamp(c.created_at, dt.UTC)}
        for c in clients
    ]
    if as_json:
        echo_json(rows)
        return
    console.print(table(f"{len(rows)} agents", ["name", "kind", "registered"], [list(r.values()) for r in rows]))


@agent_app.command("remove")
@guarded
def remove(name: str = typer.Argument(...), data_dir: Path | None = DataDir) -> None:
    """No new token for this agent from now on; tokens it holds expire within VSMESH_TOKEN_TTL_S."""
    from vsmesh.gateway.identity.clients import Clients

    settings = mesh_settings(data_dir)
    Clients(settings.data_dir).remove_client(name)
    path = credentials_path(settings.data_dir.resolve(), name)
    path.unlink(missing_ok=True)
    typer.echo(f"{name} removed: no new token; tokens already issued expire within {settings.token_ttl_s} s")


@user_app.command("add")
@guarded
def add_user(
    name: str = typer.Argument(..., help="the person's user name: the actor on their events"),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="at least 8 characters (prompted)"
    ),
    data_dir: Path | None = DataDir,
) -> None:
    """Let a person sign in at the gateway's login page (the password is stored only as a scrypt hash)."""
    from vsmesh.gateway.identity.clients import Clients

    settings = mesh_settings(data_dir)
    Clients(settings.data_dir).set_person(name, password)
    typer.echo(f"{name} may sign in at the gateway's local issuer")


@gateway_app.command("token")
@guarded
def token(
    name: str = typer.Argument(..., help="the agent whose credentials file to use"),
    creds: Path | None = typer.Option(None, "--creds", help="its credentials file [default: <data dir>/agents/]"),
    data_dir: Path | None = DataDir,
) -> None:
    """Print a fresh access token for the agent (client credentials against the running gateway)."""
    from vsmesh.gateway.identity.agent_token import fetch_token, read_credentials, token_endpoint

    settings = mesh_settings(data_dir) if creds is None else settings_from(data_dir)
    stored = read_credentials(creds or credentials_path(settings.data_dir.resolve(), name), name)
    typer.echo(fetch_token(stored, token_endpoint(stored, settings.gateway_url)).value)


@gateway_app.command("rotate-key")
@guarded
def rotate_key(
    drop_old: bool = typer.Option(
        False, "--drop-old", help="also stop publishing every older key now (a leaked key): its tokens stop verifying"
    ),
    data_dir: Path | None = DataDir,
) -> None:
    """Sign tokens with a new key; older keys stay in the JWKS until the tokens they signed have expired."""
    from vsmesh.gateway.identity.keys import drop_retired, rotate

    settings = mesh_settings(data_dir)
    kid, kept = rotate(settings.data_dir, settings.token_ttl_s)
    typer.echo(f"signing with key {kid}")
    if drop_old:
        typer.echo(f"dropped {len(drop_retired(settings.data_dir))} older keys: tokens they signed are refused")
    elif kept:
        typer.echo(f"kept {len(kept)} older keys until their tokens expire (at most {settings.token_ttl_s} s)")
