"""Imports flow one way (DESIGN.md): events ← bus ← projectors ← hubs ← probes/notify/sources/gateway ← runtime ← cli.

Every import counts, a late one inside a function too: it runs back up the layers all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The package folders and their layer; a module may import its own layer and those below it.
LAYERS = {
    "events": 0,
    "bus": 1,
    "projectors": 2,
    "hubs": 3,
    "probes": 4,
    "notify": 4,
    "sources": 4,
    "gateway": 4,
    "runtime": 5,
    "cli": 6,
}
# A hub is one folder holding all its parts, some of which belong to a higher layer: its commands (`cli.py`)
# are the CLI's and its pages (`pages.py`) the gateway's, each mounted from the hub's declaration and imported by
# nothing below.
HUB_PARTS = {"cli.py": LAYERS["cli"], "pages.py": LAYERS["gateway"]}
# Importable from anywhere
BASE = {
    "vsmesh.errors", "vsmesh.settings", "vsmesh.logs", "vsmesh.manifests", "vsmesh.durations", "vsmesh.clock",
    "vsmesh.webhook_signing",
}  # fmt: skip


def layer_of(module: str) -> int | None:
    """The layer of a `vsmesh.*` module; None for the base modules every layer may use."""
    if any(module == b or module.startswith(b + ".") for b in BASE) or module == "vsmesh":
        return None
    parts = module.split(".")
    if parts[0] != "vsmesh" or len(parts) < 2:
        return None
    if parts[1] not in LAYERS:
        raise AssertionError(f"vsmesh.{parts[1]} is in no layer: add it to LAYERS or BASE")
    if parts[1] == "hubs" and len(parts) == 4 and f"{parts[3]}.py" in HUB_PARTS:
        return HUB_PARTS[f"{parts[3]}.py"]
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
    return [
        (p, HUB_PARTS.get(p.name, rank) if folder == "hubs" and p.parent.parent.name == "hubs" else rank)
        for folder, rank in LAYERS.items()
        for p in sorted((ROOT / folder).rglob("*.py"))
    ]


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


def module_of(path: Path) -> str:
    """`projectors/engine/batches.py` -> `vsmesh.projectors.engine.batches` (a package's `__init__` is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["vsmesh", *parts])


def import_graph(group=lambda module: module) -> dict[str, set[str]]:
    """Who imports whom among vsmesh's own modules, every import counted; `group` merges modules into nodes."""
    known = {module_of(p) for p, _ in package_files()}
    graph: dict[str, set[str]] = {}
    for path, _ in package_files():
        source = group(module_of(path))
        targets = graph.setdefault(source, set())
        for module in imported_modules(path, known):
            if group(module) != source:
                targets.add(group(module))
    return graph


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The vsmesh modules a file imports: `from pkg import mod` imports the module `pkg.mod`, not `pkg`'s
    `__init__` (which Python runs first for any of its modules, as it does for every parent package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            named = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= named if len(named) == len(node.names) else named | {node.module}
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one node (Tarjan's algorithm), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


SHOWN_IN_PARTS = ("projectors", "gateway")  # folders whose sub-packages are their parts


def sub_package(module: str) -> str:
    """A projectors or gateway module's part: its sub-package (`vsmesh.projectors.engine`,
    `vsmesh.gateway.identity`), or itself at the top (`vsmesh.gateway.app`)."""
    parts = module.split(".")
    if len(parts) > 3 and parts[0] == "vsmesh" and parts[1] in SHOWN_IN_PARTS:
        return ".".join(parts[:3])
    return module


def test_no_module_imports_itself_in_a_circle() -> None:
    circles = cycles(import_graph())
    assert not circles, "modules importing each other in a circle:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_engines_parts_import_each_other_one_way() -> None:
    """projectors/ shows its parts as sub-packages (engine, rebuild, reverts, distribution, couplings): no two
    of them import each other, however indirectly."""
    graph = {k: v for k, v in import_graph(sub_package).items() if k.startswith("vsmesh.projectors")}
    circles = cycles(graph)
    assert not circles, "projectors' parts importing each other in a circle:\n" + "\n".join(map(str, circles))


def test_the_gateways_parts_import_each_other_one_way() -> None:
    """gateway/ shows its parts as sub-packages (identity, mcp, pages) beside what composes them (app, server):
    no two of them import each other, however indirectly."""
    graph = {k: v for k, v in import_graph(sub_package).items() if k.startswith("vsmesh.gateway")}
    assert {"vsmesh.gateway.identity", "vsmesh.gateway.mcp", "vsmesh.gateway.pages"} <= graph.keys()
    circles = cycles(graph)
    assert not circles, "gateway's parts importing each other in a circle:\n" + "\n".join(map(str, circles))


def test_the_cycle_check_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
