"""`vsmesh tally …`: the hub's own commands, mounted by vsmesh from the hub's declaration."""

from __future__ import annotations

from pathlib import Path

import typer

from vsmesh.cli.context import ask_hub, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import echo_json

tally_app = typer.Typer(help="tally-hub: counters.", no_args_is_help=True)


@tally_app.command("totals")
def totals(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Each counter's total."""
    answer = run(ask_hub(settings_from(data_dir), "tally-hub", "get_domain_summary"))
    if as_json:
        echo_json(answer)
    else:
        for counter, total in sorted(answer["counters"].items()):
            typer.echo(f"{counter}: {total}")
