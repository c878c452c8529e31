"""`vsmesh up`, `down` and `env`: the embedded runtime's life cycle."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from vsmesh.cli.context import fail, guarded, settings_from
from vsmesh.cli.options import DataDir
from vsmesh.errors import AlreadyRunning, VsmeshError
from vsmesh.runtime.system_mode import DEFAULT_USER, become


class _Console(Console):
    """Status lines for a person; once nobody reads them (the terminal or pipe is gone), none, and whatever
    else is written there goes to the data dir's log. rich's default raised SystemExit mid-way through a stop."""

    def on_broken_pipe(self) -> None:
        from vsmesh.logs import divert

        self.quiet = True
        divert(self.file)


console = _Console(stderr=True)


def up(
    data_dir: Path | None = DataDir,
    hub: list[str] = typer.Option(None, "--hub", help="run only these hubs (repeatable) [env VSMESH_HUBS]"),
    detach: bool = typer.Option(False, "--detach", "-d", help="run in the background; stop with `vsmesh down`"),
    demo: bool = typer.Option(
        None, "--demo/--no-demo", help="publish the demo picture once ready [default: only for a new embedded data dir]"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log lines on the terminal too, not only in the log"),
    partitions: int = typer.Option(
        None, "--partitions", help="projector partitions of each hub that can be split (ops) [env VSMESH_PARTITIONS]"
    ),
    system: bool = typer.Option(
        False, "--system", help="run as the mesh's own OS user (--user), its data dir 0700: the operator cannot read it"
    ),
    user: str = typer.Option(DEFAULT_USER, "--user", help="with --system: the mesh's OS user"),
) -> None:
    """Start the mesh: embedded nats-server and PostgreSQL (unless the env points elsewhere), streams, hubs."""
    from vsmesh.cli.demo_cmd import is_fresh, run_mesh
    from vsmesh.logs import configure_logging, divert_broken_output_to, write_or_divert
    from vsmesh.runtime.supervisor import Mesh

    # Only the env may point `up` at outside servers; the data dir's own addresses are for reuse.
    settings = settings_from(data_dir, discover=False, hubs=tuple(hub) if hub else None, partitions=partitions)
    if system:
        if detach:
            raise fail(
                "--system runs in the foreground, kept by a service manager (deploy/vsmesh.service): drop --detach"
            )
        guarded(become)(user, settings.data_dir)
    demo = is_fresh(settings) if demo is None else demo
    if detach:
        _detach(settings.data_dir.resolve(), hub or [], demo, partitions)
        return
    live = console.is_terminal
    log_file = settings.data_dir.resolve() / "mesh.log"
    # `vsmesh up | cat` or `make run | tee`: Ctrl-C ends the reader too, and the stop must still run to its end.
    divert_broken_output_to(log_file)
    if live and not verbose:
        # A person at a terminal gets the banner and a status line; the detail goes to the log file.
        configure_logging(settings, to_file=log_file)
        console.print(f"starting vsmesh in {settings.data_dir.resolve()} …", highlight=False)

    def status(line: str) -> None:
        if live:
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {line}", end="\r", highlight=False)

    def ready(r) -> None:
        write_or_divert(sys.stdout, banner(r, log_file if live and not verbose else None) + "\n")

    try:
        asyncio.run(run_mesh(Mesh(settings, on_status=status, on_ready=ready), demo))
    except AlreadyRunning as e:
        typer.echo(str(e))
    except VsmeshError as e:
        raise fail(str(e)) from None


def banner(r, log_file: Path | None) -> str:
    """Where everything is, what runs, how long it took: what a person wants from `vsmesh up`."""
    from vsmesh.logs import redact_url

    monitor = f"  (monitoring {r.nats_monitor})" if r.nats_monitor else ""
    manifest = f" + {len(r.manifest_hubs)} from manifests ({', '.join(r.manifest_hubs)})" if r.manifest_hubs else ""
    lines = [
        f"vsmesh ready in {r.seconds:.1f} s",
        f"  data dir    {r.data_dir}",
        f"  NATS        {redact_url(r.nats_url)}{monitor}",
        f"  PostgreSQL  {redact_url(r.database_url)}",
        f"  pages       {r.gateway_url}  (one per time horizon; /metrics for Prometheus)" if r.gateway_url else "",
        f"  identity    tokens from {_issuer_of(r)}; `vsmesh agent add NAME` registers an agent"
        if r.gateway_url
        else "",
        f"  signing in  `vsmesh login`: your writes then go through the gateway as you; the admin credentials in"
        f" {r.data_dir}/creds are readable by every process of this OS user (run the mesh as its own user: README)"
        if r.gateway_url
        else "",
        f"  hubs        {len(r.hubs)} coded ({', '.join(r.hubs)}){manifest}, the registry; {r.couplings} couplings",
        f"  log         {log_file}  (`vsmesh up --verbose` shows it here)" if log_file else "",
        "Ctrl-C stops the mesh; in another terminal: `vsmesh status`, `vsmesh summary ops-hub`, `vsmesh tail -f`.",
    ]
    return "\n".join(line for line in lines if line)


def _issuer_of(r) -> str:
    return "its own issuer" if r.oidc_issuer == r.gateway_url else r.oidc_issuer


def _detach(data_dir: Path, hubs: list[str], demo: bool = False, partitions: int | None = None) -> None:
    from vsmesh.runtime.mesh_state import load_state, supervisor_alive

    state = load_state(data_dir)
    if supervisor_alive(state):
        typer.echo(f"vsmesh is already up in {data_dir} (pid {state.supervisor_pid})")
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "vsmesh.cli.app", "up", "--data-dir", str(data_dir)]
    for h in hubs:
        args += ["--hub", h]
    args.append("--demo" if demo else "--no-demo")
    if partitions:
        args += ["--partitions", str(partitions)]
    log_path = data_dir / "mesh.log"
    with open(log_path, "ab") as out:
        start = out.tell()
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            reason = _last_error(log_path, start) or f"the mesh exited at start (code {proc.returncode})"
            raise fail(f"{reason}; see {log_path}")
        state = load_state(data_dir)
        if state.ready and state.supervisor_pid == proc.pid:
            where = f"nats {state.nats_url}; gateway {state.gateway_url}"
            typer.echo(f"vsmesh up in the background (pid {proc.pid}); {where}")
            return
        time.sleep(0.2)
    raise fail(f"the mesh did not become ready in 120 s; see {data_dir}/mesh.log")


def _last_error(log_path: Path, start: int) -> str | None:
    """The `error: …` line the background `up` wrote since `start`, without its prefix."""
    with open(log_path, "rb") as f:
        f.seek(start)
        lines = f.read().decode(errors="replace").splitlines()
    return next((line.removeprefix("error: ") for line in reversed(lines) if line.startswith("error: ")), None)


@guarded
def down(data_dir: Path | None = DataDir) -> None:
    """Stop a mesh running in the background (or the servers a killed one left)."""
    from vsmesh.runtime.servers import stop_mesh

    typer.echo(stop_mesh(settings_from(data_dir)))


@guarded
def env(data_dir: Path | None = DataDir) -> None:
    """Print `export VSMESH_…` lines for the running mesh, its data dir included: `eval "$(vsmesh env)"`."""
    from vsmesh.runtime.mesh_state import running_state
    from vsmesh.settings import GATEWAY_MCP_PATH

    settings = settings_from(data_dir)
    gateway = running_state(settings.data_dir).gateway_url
    lines = settings.env_lines()
    if gateway:  # a comment: `eval` ignores it, a person reads it
        lines.append(f"# pages and /metrics: {gateway}; MCP: {gateway}{GATEWAY_MCP_PATH} (`vsmesh mcp --print-config`)")
    typer.echo("\n".join(lines))
