"""`vsmesh mcp --stdio` (a local bridge to the MCP gateway) and `vsmesh mcp --print-config AGENT`.

Both paths are governed alike: the bridge forwards to the HTTP gateway with the agent's bearer token, and the
gateway authenticates, enforces mandates and records every call.
"""

from __future__ import annotations

import json
import shutil
import sys

import typer

from vsmesh.cli.context import fail, run
from vsmesh.errors import ConfigError

URL_ENV = "VSMESH_GATEWAY_URL"
TOKEN_ENV = "VSMESH_GATEWAY_TOKEN"


def mcp(
    stdio: bool = typer.Option(False, "--stdio", help="serve MCP on stdin/stdout, forwarding to the HTTP gateway"),
    print_config: str = typer.Option(None, "--print-config", metavar="AGENT", help="print a client config for AGENT"),
    url: str = typer.Option(None, "--url", envvar=URL_ENV, help=f"the gateway's MCP endpoint [env {URL_ENV}]"),
    token: str = typer.Option(
        None, "--token", envvar=TOKEN_ENV, help=f"the agent's bearer token [env {TOKEN_ENV}]", show_default=False
    ),
) -> None:
    """Connect an MCP client (Claude Desktop, an agent SDK) to the mesh through the governed gateway."""
    if stdio == bool(print_config):
        raise typer.BadParameter("use either --stdio or --print-config AGENT")
    if not url:
        raise fail(f"name the gateway's MCP endpoint: --url or {URL_ENV} (`vsmesh env` prints it while the mesh runs)")
    if print_config:
        typer.echo(json.dumps(client_config(print_config, url), indent=2))
        return
    if not token:
        raise fail(f"the bridge needs the agent's bearer token: --token or {TOKEN_ENV}")
    from vsmesh.gateway.stdio_bridge import bridge

    try:
        run(bridge(url, token))
    except ConnectionError as e:
        raise fail(str(e)) from None


def client_config(agent: str, url: str) -> dict:
    """The `mcpServers` entry an MCP client reads: the stdio bridge, and the direct HTTP form beside it."""
    if not agent.strip():
        raise ConfigError("--print-config needs the agent's name")
    command = shutil.which("vsmesh") or f"{sys.executable} -m vsmesh.cli.app"
    program, *first = command.split()
    return {
        "mcpServers": {
            f"vsmesh-{agent}": {
                "command": program,
                "args": [*first, "mcp", "--stdio", "--url", url],
                "env": {TOKEN_ENV: f"<`vsmesh gateway token {agent}` prints one; it lives minutes>"},
            },
            f"vsmesh-{agent}-http": {
                "type": "http",
                "url": url,
                "headers": {"Authorization": f"Bearer <`vsmesh gateway token {agent}`>"},
            },
        }
    }
