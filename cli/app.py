"""The `vsmesh` typer application: one command per module, registered here.

Command modules import SQLAlchemy, NATS and the hubs inside the commands, not at their top: every command
imports all of them through this module, and `vsmesh --help` then starts in under a third of the time
(docs/performance.md §CLI; tests/cli/test_startup.py keeps it so).
"""

from __future__ import annotations

import typer

from vsmesh.cli.agent_cmd import agent_app, gateway_app, user_app
from vsmesh.cli.approve_cmd import approvals, approve, deny
from vsmesh.cli.call_cmd import call
from vsmesh.cli.cluster_cmd import cluster_app
from vsmesh.cli.core_cmds import add_core_commands
from vsmesh.cli.couplings_cmd import couplings, trace
from vsmesh.cli.creds_cmd import creds_app
from vsmesh.cli.demo_cmd import demo
from vsmesh.cli.diff_cmd import diff_cmd
from vsmesh.cli.hook_cmd import hook_app
from vsmesh.cli.hub_cmds import hub_app
from vsmesh.cli.login_cmd import login, logout, whoami
from vsmesh.cli.mcp_cmd import mcp
from vsmesh.cli.notify_cmd import notify_app
from vsmesh.cli.probe_cmd import probe_app
from vsmesh.cli.publish_cmd import publish
from vsmesh.cli.pull_cmd import pull_app
from vsmesh.cli.quarantine_cmd import quarantine_app
from vsmesh.cli.rebuild_cmd import rebuild_cmd
from vsmesh.cli.revert_cmd import revert
from vsmesh.cli.runtime_cmds import down, env, up
from vsmesh.cli.schema_cmd import schema_app
from vsmesh.cli.snapshot_cmd import snapshot
from vsmesh.cli.status_cmd import status
from vsmesh.cli.streams_cmd import streams_app
from vsmesh.cli.summary_cmd import summary
from vsmesh.cli.sync_cmd import sync
from vsmesh.cli.tail_cmd import tail
from vsmesh.cli.verify_cmd import verify_cmd
from vsmesh.hubs import discovered
from vsmesh.hubs.hub import load

app = typer.Typer(
    name="vsmesh",
    help="An event-sourced mesh of organisational hubs on NATS JetStream.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(up)
app.command()(down)
app.command()(env)
app.command()(login)
app.command()(logout)
app.command()(whoami)
app.command()(publish)
app.command()(call)
app.command()(tail)
app.command()(summary)
app.command()(status)
app.command("rebuild")(rebuild_cmd)
app.command("diff")(diff_cmd)
app.command("verify")(verify_cmd)
app.command()(snapshot)
app.add_typer(streams_app, name="streams")
app.add_typer(schema_app, name="schema")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(creds_app, name="creds")
app.add_typer(cluster_app, name="cluster")
add_core_commands(app)
app.add_typer(probe_app, name="probe")
app.add_typer(notify_app, name="notify")
app.add_typer(pull_app, name="pull")
app.add_typer(hook_app, name="hook")
app.add_typer(hub_app, name="hub")
app.command()(demo)
app.command()(sync)
app.command()(couplings)
app.command()(trace)
app.command()(revert)
app.command()(approve)
app.command()(deny)
app.command()(approvals)
app.command()(mcp)
app.add_typer(agent_app, name="agent")
app.add_typer(user_app, name="user")
app.add_typer(gateway_app, name="gateway")
# Each hub's own commands, `vsmesh ops …`, from its declaration; `vsmesh audit` is aud-hub's (who did what, and
# the audit's checks and findings).
for _hub in discovered().values():
    if _hub.cli:
        app.add_typer(load(_hub.cli), name=_hub.cli_name or _hub.slug.removesuffix("-hub"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
