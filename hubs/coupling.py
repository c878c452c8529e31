"""Every hub's couplings, gathered and checked against the vocabulary of the hub they emit into."""

from __future__ import annotations

from vsmesh.errors import ConfigError
from vsmesh.hubs import discovered
from vsmesh.hubs.hub import Hub
from vsmesh.projectors.couplings.coupling import Coupling, enabled
from vsmesh.settings import Settings


def all_couplings() -> list[Coupling]:
    """Every hub's couplings, by name; a duplicate name or an undeclared event type fails at start-up."""
    hubs = discovered()
    found: dict[str, Coupling] = {}
    for declared in hubs.values():
        for coupling in declared.make_couplings():
            if coupling.name in found:
                raise ConfigError(f"two couplings are named {coupling.name!r}; rename one")
            _check_vocabulary(coupling, hubs)
            found[coupling.name] = coupling
    return sorted(found.values(), key=lambda c: c.name)


def _check_vocabulary(coupling: Coupling, hubs: dict[str, Hub]) -> None:
    target = hubs.get(coupling.target_hub)
    declared = set(target.event_types) if target else set()
    missing = [t for t in coupling.emitted_types if t not in declared]
    if missing:
        raise ConfigError(
            f"coupling {coupling.name} emits {', '.join(missing)}, which {coupling.target_hub}'s manifest does not "
            "declare; add them to its EVENT_TYPES"
        )


def active_couplings(settings: Settings, extra: list[Coupling] | None = None) -> list[Coupling]:
    """The couplings this deployment runs: every hub's (plus `extra`), minus VSMESH_COUPLINGS_DISABLED."""
    found = all_couplings() + list(extra or [])
    return enabled(found, settings.couplings_disabled)
