"""`vsmesh mcp --stdio` (a local bridge to the MCP gateway) and `vsmesh mcp --print-config AGENT`.

Both paths are governed alike: the bridge forwards to the HTTP gateway with the agent's bearer token, and the
gateway authenticates, enforces mandates and records every call.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import typer

from vsmesh.cli.context import fail, guarded, run, settings_from
from vsmesh.cli.options import DataDir
from vsmesh.errors import ConfigError
from vsmesh.settings import GATEWAY_MCP_PATH, Settings

TOKEN_ENV = "VSMESH_GATEWAY_TOKEN"


@guarded
def mcp(
    stdio: bool = typer.Option(False, "--stdio", help="serve MCP on stdin/stdout, forwarding to the HTTP gateway"),
    print_config: str = typer.Option(None, "--print-config", metavar="AGENT", help="print a client config for AGENT"),
    url: str = typer.Option(
        None, "--url", help="the gateway: its root or its /mcp endpoint [env VSMESH_GATEWAY_URL; default: the mesh's]"
    ),
    token: str = typer.Option(
        None, "--token", envvar=TOKEN_ENV, help=f"the agent's bearer token [env {TOKEN_ENV}]", show_default=False
    ),
    creds: Path | None = typer.Option(
        None,
        "--creds",
        help="the agent's credentials file: the bridge gets and renews its tokens from it"
        " [--print-config: <data dir>/agents/AGENT.json]",
    ),
    data_dir: Path | None = DataDir,
) -> None:
    """Connect an MCP client (Claude Desktop, an agent SDK) to the mesh through the governed gateway."""
    if stdio == bool(print_config):
        raise typer.BadParameter("use either --stdio or --print-config AGENT")
    settings = settings_from(data_dir, gateway_url=url)
    if not settings.gateway_url:
        from vsmesh.runtime.mesh_state import not_running

        raise fail(f"name the gateway (--url or VSMESH_GATEWAY_URL): {not_running(settings.data_dir)}")
    if print_config:
        typer.echo(json.dumps(client_config(print_config, settings, creds), indent=2))
        return
    _serve(settings, token, creds)


def _serve(settings: Settings, token: str | None, creds: Path | None) -> None:
    from vsmesh.gateway.identity.agent_token import RenewingBearer, fetch_token, read_credentials, token_endpoint
    from vsmesh.gateway.mcp.stdio_bridge import Bearer, bridge

    if creds is not None:
        stored = read_credentials(creds, creds.stem)
        where = token_endpoint(stored, settings.gateway_url)
        auth = RenewingBearer(stored, where, first=fetch_token(stored, where))  # a refusal is one line, before serving
    elif token:
        auth = Bearer(token)
    else:
        raise fail(f"the bridge needs the agent's credentials file (--creds) or its token (--token or {TOKEN_ENV})")
    try:
        run(bridge(f"{settings.gateway_url}{GATEWAY_MCP_PATH}", auth))
    except ConnectionError as e:
        raise fail(str(e)) from None


def client_config(agent: str, settings: Settings, creds: Path | None) -> dict:
    """The `mcpServers` entries an MCP client reads, each working as printed: the stdio bridge, which gets and
    renews the agent's tokens from its credentials file, and the direct HTTP form with a fresh token."""
    from vsmesh.gateway.identity.agent_token import fetch_token, read_credentials, token_endpoint
    from vsmesh.gateway.identity.clients import credentials_path
    from vsmesh.runtime.mesh_state import running_state

    if not agent.strip():
        raise ConfigError("--print-config needs the agent's name")
    if creds is None:  # the agent's file lives with the running mesh: not in a data dir no mesh runs from
        running_state(settings.data_dir)
    path = (creds or credentials_path(settings.data_dir, agent)).resolve()
    stored = read_credentials(path, agent)
    token = fetch_token(stored, token_endpoint(stored, settings.gateway_url))
    endpoint = f"{settings.gateway_url}{GATEWAY_MCP_PATH}"
    lifetime = max(0, round(token.expires_at - time.monotonic()))
    typer.echo(f"the HTTP entry's token lives {lifetime} s; the stdio entry renews its own from {path}", err=True)
    command = shutil.which("vsmesh") or f"{sys.executable} -m vsmesh.cli.app"
    program, *first = command.split()
    return {
        "mcpServers": {
            f"vsmesh-{agent}": {
                "command": program,
                "args": [*first, "mcp", "--stdio", "--url", endpoint, "--creds", str(path)],
            },
            f"vsmesh-{agent}-http": {
                "type": "http",
                "url": endpoint,
                "headers": {"Authorization": f"Bearer {token.value}"},
            },
        }
    }
