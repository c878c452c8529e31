"""What a commit's files mean: one declaration per policy, mandate, budget period and catalog entity, or every
problem found, one line each (`canon/mandates/deploy-bot.yaml:7: scope: 'ops' is not a hub or glob …`).

A commit is all or nothing: the problems of any file refuse the whole commit (sources/gitops/sync.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from vsmesh.events.schemas.mandate_terms import parse_conditions, parse_scope
from vsmesh.hubs.filecheck import checked_all, line_of
from vsmesh.sources.gitops.catalog import catalog_declarations
from vsmesh.sources.gitops.declared import Declared
from vsmesh.sources.gitops.layout import BudgetFile, MandateFile, PolicyFile
from vsmesh.sources.gitops.repo import Commit, RepoFile
from vsmesh.sources.gitops.secrets import secret_problems

POLICIES, MANDATES, BUDGETS, CATALOG = "canon/policies/", "canon/mandates/", "fin/budgets/", "catalog/"
CATALOG_FILE = "catalog-info.yaml"
GLOB_CHARS = frozenset("*?[")


@dataclass
class Derived:
    declared: list[Declared] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[Declared]:
        return [d for d in self.declared if d.kind == kind]


def derive(commit: Commit) -> Derived:
    """Every declaration of the commit's governed files, or the problems that refuse it."""
    found = Derived()
    for file in sorted(commit.files.values(), key=lambda f: f.path):
        declared, problems = derive_file(file)
        found.declared += declared
        found.problems += problems
    _check_unique(found)
    _check_delegations(found)
    return found


# (path, blob id) → what the file declares and its problems. A blob id names its content, so a process that syncs
# again (the timed reconcile) reads and parses only the files a commit changed.
_DERIVED: dict[tuple[str, str], tuple[tuple[Declared, ...], tuple[str, ...]]] = {}
_DERIVED_MOST = 1 << 16


def forget_files() -> None:
    """Parse every file again at the next sync (what a new `vsmesh sync` process does)."""
    _DERIVED.clear()


def derive_file(file: RepoFile) -> tuple[tuple[Declared, ...], tuple[str, ...]]:
    """What one file declares, or its problems."""
    key = (file.path, file.blob)
    if key not in _DERIVED:
        if len(_DERIVED) >= _DERIVED_MOST:
            _DERIVED.clear()
        _DERIVED[key] = _derive_file(file)
    return _DERIVED[key]


def _derive_file(file: RepoFile) -> tuple[tuple[Declared, ...], tuple[str, ...]]:
    path, problems = file.path, []
    documents = _documents(file, problems)
    if documents is None:
        return (), tuple(problems)
    for _, node in documents:
        problems += secret_problems(node, path)
    declared: list[Declared] = []
    if path.startswith(POLICIES) and _direct(path, POLICIES):
        declared = _policy(file, *documents[0], problems)
    elif path.startswith(MANDATES) and _direct(path, MANDATES):
        declared = _mandate(file, *documents[0], problems)
    elif path.startswith(BUDGETS) and _direct(path, BUDGETS):
        declared = _budgets(file, *documents[0], problems)
    elif path.startswith(CATALOG) and PurePosixPath(path).name == CATALOG_FILE:
        declared = catalog_declarations(file, documents, problems)
    return tuple(declared), tuple(problems)


def _direct(path: str, folder: str) -> bool:
    return "/" not in path[len(folder) :]


# libyaml where PyYAML was built with it: a repository of thousands of entities is mostly YAML to read.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _documents(file: RepoFile, problems: list[str]) -> list[tuple[Any, yaml.Node | None]] | None:
    """Each document of the file with its node tree (read once: the values are constructed from the nodes)."""
    try:
        nodes = list(yaml.compose_all(file.text, Loader=LOADER))
        raws = [yaml.constructor.SafeConstructor().construct_document(node) for node in nodes]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problems.append(f"{file.path}:{mark.line + 1 if mark else '?'}: not valid YAML: {getattr(e, 'problem', e)}")
        return None
    pairs = [(raw, node) for raw, node in zip(raws, nodes, strict=True) if raw is not None]
    if not pairs:
        problems.append(f"{file.path}:1: document: the file is empty; delete it to retire what it declared")
        return None
    return pairs


def _policy(file: RepoFile, raw: Any, node: yaml.Node | None, problems: list[str]) -> list[Declared]:
    model = checked_all(PolicyFile, raw, node, file.path)
    if isinstance(model, list):
        problems += model
        return []
    slug = model.policy or PurePosixPath(file.path).stem
    meta: dict[str, Any] = {"values": model.values}
    if model.non_delegable:
        meta["non_delegable"] = True
    if model.sunset is not None:
        meta["sunset"] = model.sunset.isoformat()
    data = model.model_dump(include={"title", "version", "scope", "statement", "document", "supersedes"})
    data = {"policy": slug, **data, "metadata": meta}
    subject = f"policy/{slug}"
    return [Declared("policy", slug, file.path, file.blob, "canon-hub", "canon-policy-declared", subject, data)]


def _mandate(file: RepoFile, raw: Any, node: yaml.Node | None, problems: list[str]) -> list[Declared]:
    model = checked_all(MandateFile, raw, node, file.path)
    if isinstance(model, list):
        problems += model
        return []
    bad = [entry for entry in _scope_hubs(model.scope) if not _is_hub_or_glob(entry)]
    for hub in bad:
        known = ", ".join(sorted(known_hubs()))
        problems.append(f"{file.path}:{line_of(node, ('scope',))}: scope: {hub!r} is not a hub or glob; "
                        f"name a hub ({known}) or a glob such as 'ops-*' or '*'")  # fmt: skip
    try:
        parse_conditions(model.approve)
    except ValueError as e:
        problems.append(f"{file.path}:{line_of(node, ('approve',))}: approve: {e}")
        return []
    if bad:
        return []
    data: dict[str, Any] = {"role": model.role, "holder": model.holder, "scope": model.scope}
    data |= {"constraints": model.constraints, "granted_until": model.until, "approve": model.approve}
    if model.caps is not None:
        data["caps"] = model.caps
    if model.delegated_from:
        data["metadata"] = {"delegated_from_file": mandate_path(model.delegated_from)}
    key = file.path
    return [
        Declared(
            "mandate",
            key,
            file.path,
            file.blob,
            "canon-hub",
            "canon-mandate-granted",
            f"mandate/{model.holder}",
            data,
            line_of(node, ("delegated_from",)) or 1,
        )  # fmt: skip
    ]


def mandate_path(reference: str) -> str:
    """A mandate file as `delegated_from` names it: `founder`, `founder.yaml` or its path."""
    name = reference if reference.endswith((".yaml", ".yml")) else f"{reference}.yaml"
    return name if name.startswith(MANDATES) else MANDATES + name


def _budgets(file: RepoFile, raw: Any, node: yaml.Node | None, problems: list[str]) -> list[Declared]:
    model = checked_all(BudgetFile, raw, node, file.path)
    if isinstance(model, list):
        problems += model
        return []
    found = []
    for period, amount in model.periods.items():
        data = {"domain": model.domain, "period": period, "category": model.category,
                "amount": {"amount": str(amount), "currency": model.currency}}  # fmt: skip
        key = f"{model.domain}/{period}/{model.currency}"
        found.append(Declared("budget", key, file.path, file.blob, "fin-hub", "fin-budget-allocated",
                              f"domain/{model.domain}", data, line_of(node, ("periods", period)) or 1))  # fmt: skip
    return found


def _scope_hubs(scope: str) -> list[str]:
    return [entry.hub for entry in parse_scope(scope)]


def _is_hub_or_glob(hub: str) -> bool:
    return bool(GLOB_CHARS & set(hub)) or hub in known_hubs()


@functools.cache
def known_hubs() -> frozenset[str]:
    """The coded hubs, the registry and the hubs shipped as manifests."""
    from vsmesh.hubs import discovered
    from vsmesh.hubs.registry.manifest_model import shipped_dir

    shipped = {p.stem for p in shipped_dir().glob("*.yaml")}
    return frozenset({*discovered(), "registry", *shipped})


def _check_unique(found: Derived) -> None:
    seen: dict[tuple[str, str], Declared] = {}
    for d in found.declared:
        first = seen.setdefault((d.kind, d.key), d)
        if first is not d:
            found.problems.append(f"{d.path}:{d.line}: {d.kind} {d.key!r} is declared in {first.path} too; "
                                  "keep one of them")  # fmt: skip


def _check_delegations(found: Derived) -> None:
    mandates = {d.path for d in found.of("mandate")}
    for d in found.of("mandate"):
        source = d.data.get("metadata", {}).get("delegated_from_file")
        if source and source not in mandates:
            found.problems.append(f"{d.path}:{d.line}: delegated_from: no mandate file {source} in this commit; "
                                  "name one of canon/mandates/")  # fmt: skip
        elif source == d.path:
            found.problems.append(f"{d.path}:{d.line}: delegated_from: a mandate cannot delegate from itself")


def by_key(declared: Iterable[Declared]) -> dict[tuple[str, str], Declared]:
    return {(d.kind, d.key): d for d in declared}
