"""The example organisation repository (examples/org-repo/, shipped as package data), which the demo syncs."""

from __future__ import annotations

from pathlib import Path


def example_repo() -> Path:
    from importlib.resources import files

    try:
        return Path(str(files("vsmesh.examples").joinpath("org-repo")))
    except ModuleNotFoundError:
        # An editable install made before vsmesh.examples existed maps no such package until it is reinstalled;
        # its checkout holds the folder all the same.
        return Path(__file__).resolve().parents[2] / "examples" / "org-repo"
