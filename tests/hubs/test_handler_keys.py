"""Handlers and reactions are keyed by event class: every key must be a type the registry decodes to.

A key that is not the registered class would never be called (the engine dispatches on `type(event)`), so
a stale or hand-made class is caught here rather than by a hub that silently stops folding.
"""

from __future__ import annotations

import pytest

from vsmesh.events.registry import REGISTRY
from vsmesh.hubs import HUBS, hub
from vsmesh.hubs.coupling import all_couplings
from vsmesh.hubs.registry.projector import manifest_projection, registry_projection
from vsmesh.projectors.engine.projection import event_type_of


def _projections():
    yield from ((slug, hub(slug).make_projection()) for slug in HUBS)
    yield "registry", registry_projection()
    yield "a manifest hub", manifest_projection("keys-hub")


@pytest.mark.parametrize(("name", "projection"), list(_projections()), ids=lambda p: p if isinstance(p, str) else "")
def test_every_handler_key_is_a_registered_event_class(name, projection):
    assert projection.handlers, f"{name} has no handlers"
    for key in projection.handlers:
        assert isinstance(key, type), f"{name}: handler key {key!r} is not an event class"
        event_type = event_type_of(key)
        assert event_type in REGISTRY, f"{name}: {key.__name__} ({event_type}) is not registered"
        assert REGISTRY[event_type] is key, f"{name}: {key.__name__} is not the class {event_type} decodes to"


@pytest.mark.parametrize("coupling", all_couplings(), ids=lambda c: c.name)
def test_every_coupling_reacts_to_and_emits_registered_classes(coupling):
    for cls in (*coupling.reacts_to, *coupling.emits):
        assert REGISTRY[event_type_of(cls)] is cls
    # Its source subjects come from the classes: each on the stream of its horizon, under the source hub.
    for cls in coupling.reacts_to:
        stream = cls.horizon.value.upper()
        assert coupling.sources[stream].startswith(f"{stream.lower()}.{coupling.source_hub}.")
        assert coupling.sources[stream] in (
            f"{stream.lower()}.{coupling.source_hub}.{event_type_of(cls)}.>",
            f"{stream.lower()}.{coupling.source_hub}.>",
        )
