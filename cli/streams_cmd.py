"""`vsmesh streams retention STREAM DURATION [--snapshot]`: change how long a stream keeps its events, refused
in one line when a hub's rebuild would need events the change deletes and no snapshot covers them.

Governance: the gateway changes it as the signed-in person (hubs/retention.py does the work), who entered the
password recently (`vsmesh login --step-up`); the stream keeps who set it."""

from __future__ import annotations

from pathlib import Path

import typer

from vsmesh.cli.context import guarded, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import echo_json

streams_app = typer.Typer(help="The horizon streams: how long each keeps its events.", no_args_is_help=True)


@streams_app.command("retention")
@guarded
def retention(
    stream: str = typer.Argument(..., help="stream name, e.g. OPERATIONAL"),
    duration: str = typer.Argument(..., help="new max age: 30s, 12h, 90d … or `forever`"),
    snapshot: bool = typer.Option(
        False, "--snapshot", help="snapshot every hub whose rebuild would need it first, then apply"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Set a stream's retention, unless a hub would lose events its rebuild needs that no snapshot covers."""
    from vsmesh.cli.session import as_person

    max_age = _seconds(duration)
    if stream.upper() == "CONSTITUTIONAL" and max_age:
        raise typer.BadParameter(
            "CONSTITUTIONAL keeps its events forever: its hash chain (`vsmesh verify`) needs every link",
            param_hint="STREAM",
        )
    settings = settings_from(data_dir)
    body = {"stream": stream.upper(), "duration": duration, "snapshot": snapshot}
    answer = as_person(settings, "changing a stream's retention", "/people/retention", body, governance=True)
    if as_json:
        echo_json({k: v for k, v in answer.items() if k != "summary"})
        return
    print(answer["summary"])
    if answer["warning"]:
        typer.echo(f"warning: {answer['warning']}", err=True)


def _seconds(text: str) -> float:
    from vsmesh.hubs.retention import retention_seconds

    try:
        return retention_seconds(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="DURATION") from None
