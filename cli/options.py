"""Options shared by several commands, each with its `VSMESH_*` variable."""

from pathlib import Path

import typer

DataDir = typer.Option(None, "--data-dir", help="the embedded mesh's data dir [env VSMESH_DATA_DIR; default .vsmesh]")
Json = typer.Option(False, "--json", help="machine-readable output for scripts")
Wide = typer.Option(False, "--wide", help="every column at full width, however narrow the terminal")
HubArg = typer.Argument(..., help="hub slug, e.g. ops-hub")

__all__ = ["DataDir", "HubArg", "Json", "Path", "Wide"]
