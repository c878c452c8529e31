"""Imports flow one way (DESIGN.md): events ← bus ← projectors ← hubs ← probes/gateway ← runtime ← cli.

Every import counts, a late one inside a function too: it runs back up the layers all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The package folders and their layer; a module may import its own layer and those below it.
LAYERS = {"events": 0, "bus": 1, "projectors": 2, "hubs": 3, "probes": 4, "gateway": 4, "runtime": 5, "cli": 6}
BASE = {"vsmesh.errors", "vsmesh.settings", "vsmesh.logs", "vsmesh.manifests"}  # importable from anywhere


def layer_of(module: str) -> int | None:
    """The layer of a `vsmesh.*` module; None for the base modules every layer may use."""
    if any(module == b or module.startswith(b + ".") for b in BASE) or module == "vsmesh":
        return None
    parts = module.split(".")
    if parts[0] != "vsmesh" or len(parts) < 2:
        return None
    if parts[1] not in LAYERS:
        raise AssertionError(f"vsmesh.{parts[1]} is in no layer: add it to LAYERS or BASE")
    return LAYERS[parts[1]]


def imports(path: Path) -> list[tuple[int, str]]:
    """Every `vsmesh.*` module the file imports, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("vsmesh")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vsmesh"):
            found.append((node.lineno, node.module))
    return found


def package_files() -> list[tuple[Path, int]]:
    return [(p, rank) for folder, rank in LAYERS.items() for p in sorted((ROOT / folder).rglob("*.py"))]


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_no_import_runs_back_up_the_layers(folder: str) -> None:
    upward = []
    for path, rank in package_files():
        if path.relative_to(ROOT).parts[0] != folder:
            continue
        for line, module in imports(path):
            target = layer_of(module)
            if target is not None and target > rank:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not upward, "imports running back up the layers:\n" + "\n".join(upward)


def test_the_base_imports_no_layer() -> None:
    """errors, settings and logs sit under every layer, so they import none."""
    for path in sorted((ROOT / "vsmesh").glob("*.py")):
        layered = [f"{path.name}:{line} imports {m}" for line, m in imports(path) if layer_of(m) is not None]
        assert not layered, layered


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The walk sees a late import inside a function, the kind the runtime move removed from bus/."""
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from vsmesh.hubs import HUBS\n    return HUBS\n")
    assert imports(module) == [(2, "vsmesh.hubs")]
    assert layer_of("vsmesh.hubs") > LAYERS["bus"]
