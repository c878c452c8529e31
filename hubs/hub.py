"""A hub's declaration: every part the mesh needs of it, gathered in one `Hub` object in the hub's own folder.

The runtime, the CLI, the event registry, the gateway and the demo find hubs through the entry-point group
`vsmesh.hubs` (hubs/__init__.py) and name none: a hub is one package plus one entry-point line, and may ship
as a distribution of its own. Parts are named as `module:attribute` references and imported when first used,
so discovering every hub costs its small declaration module, not its tables and handlers.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.aio.client import Client

    from vsmesh.hubs.contract import Operation
    from vsmesh.hubs.samples import DemoEvent
    from vsmesh.projectors.couplings.coupling import Coupling
    from vsmesh.projectors.engine.projection import Projection
    from vsmesh.settings import Settings


def load(reference: str) -> Any:
    """The object a `module:attribute.path` reference names (a bare module name gives the module)."""
    module, _, attribute = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        found = getattr(found, part)
    return found


@dataclass(frozen=True)
class JobContext:
    """What a timed job runs with: the mesh's admin connection and settings, who holds its lease, and what its
    runs keep between them while this process holds it (`state`)."""

    nc: Client
    settings: Settings
    hub: str  # who owns the job: a hub's slug, or a package that is not a hub (runtime/jobs.py PACKAGE_JOBS)
    holder: str
    replicas: int = 1  # of what it creates in JetStream (3 on a cluster)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """Work only the passage of time makes due, run by `vsmesh up` (runtime/jobs.py).

    One process of a deployment runs a job at a time (a lease per job), every `every_s` seconds and, with
    `wake_on`, soon after one of those hubs applied events (a burst of batches wakes it once). A run must be
    idempotent by its event ids: a pass racing another after a lease hand-over stores nothing twice.
    """

    name: str
    run: Callable[[JobContext], Awaitable[Any]]
    every_s: float | Callable[[Settings], float]
    wake_on: tuple[str, ...] = ()

    def interval(self, settings: Settings) -> float:
        return self.every_s(settings) if callable(self.every_s) else float(self.every_s)


@dataclass(frozen=True)
class Hub:
    """One hub, as its package declares it. References are `module:attribute` (see `load`)."""

    slug: str
    # A module with NAME, VSM_FUNCTION, VSM_SYSTEM, EVENT_TYPES (the types it accepts) and ANNOTATION_CATEGORIES;
    # a hub that keeps a manifest.yaml derives them from it (MANIFEST, registry/manifest_model.packaged_manifest).
    manifest: str
    projection: str  # a function returning the hub's Projection: its tables and handlers
    reads: str  # a function returning its read Operations; its contract is the core's with its reads and writes
    writes: str | None = None  # a function returning its write Operations (each an MCP tool under a mandate)
    couplings: str | None = None  # a function returning the Couplings that emit into other hubs
    schemas: tuple[str, ...] = ()  # modules of its own event families, added to the type registry when found
    jobs: str | None = None  # a tuple of Jobs
    cli: str | None = None  # a typer app: `vsmesh <cli_name> …`
    cli_name: str | None = None
    pages: str | None = None  # a tuple of the gateway's Pages and Sections; their templates in its templates/
    sample: str | None = None  # a function returning its part of the demo picture (DemoEvents, in order)
    sample_rank: int = 100  # where that part goes in the picture: lower first (ops' inventory before the rest)

    @classmethod
    def in_package(cls, package: str, slug: str, **parts: Any) -> Hub:
        """A hub whose parts sit where every hub keeps them: `manifest`, `projector:projection`,
        `reads:read_operations`, `writes:write_operations`, `couplings:couplings`, `sample:events` in `package`;
        `parts` adds the rest (jobs, commands, its own schemas) or places one elsewhere."""
        usual = {
            "manifest": f"{package}.manifest",
            "projection": f"{package}.projector:projection",
            "reads": f"{package}.reads:read_operations",
            "writes": f"{package}.writes:write_operations",
            "couplings": f"{package}.couplings:couplings",
            "sample": f"{package}.sample:events",
        }
        return cls(slug=slug, **(usual | parts))

    @functools.cached_property
    def manifest_module(self) -> ModuleType:
        return load(self.manifest)

    @property
    def name(self) -> str:
        return self.manifest_module.NAME

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self.manifest_module.EVENT_TYPES)

    @property
    def annotation_categories(self) -> tuple[str, ...]:
        """What annotations on its entities may be about (its manifest's ANNOTATION_CATEGORIES)."""
        return tuple(getattr(self.manifest_module, "ANNOTATION_CATEGORIES", ()))

    def make_projection(self) -> Projection:
        return load(self.projection)()

    def make_operations(self) -> list[Operation]:
        """Its contract: the core's operations, then its reads and writes (one of the same name replaces the
        core's)."""
        # Late: finding every hub imports only its declaration, not the core's tables and queries.
        from vsmesh.hubs.core.operations import with_core

        return with_core([*load(self.reads)(), *(load(self.writes)() if self.writes else ())])

    def make_couplings(self) -> list[Coupling]:
        return load(self.couplings)() if self.couplings else []

    def timed_jobs(self) -> tuple[Job, ...]:
        return tuple(load(self.jobs)) if self.jobs else ()

    def sample_events(self) -> list[DemoEvent]:
        return load(self.sample)() if self.sample else []

    def references(self) -> dict[str, str]:
        """Every part this declaration names, for checking that each resolves."""
        named = {"manifest": self.manifest, "projection": self.projection, "reads": self.reads}
        named |= {k: v for k in ("writes", "couplings", "jobs", "cli", "pages", "sample") if (v := getattr(self, k))}
        return named | {f"schemas[{i}]": s for i, s in enumerate(self.schemas)}
