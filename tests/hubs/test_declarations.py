"""Every installed hub declares itself with one `Hub`, found through the entry-point group `vsmesh.hubs`."""

import importlib.metadata

import pytest

from vsmesh.errors import NotFound
from vsmesh.hubs import ENTRY_POINTS, discovered, hub
from vsmesh.hubs.hub import load

CODED = {"ops-hub", "dev-hub", "fin-hub", "canon-hub", "sec-hub", "legal-hub", "aud-hub"}


def test_the_coded_hubs_are_found_through_their_entry_points():
    names = {point.name for point in importlib.metadata.entry_points(group=ENTRY_POINTS)}
    assert CODED <= names
    assert CODED <= set(discovered())


@pytest.mark.parametrize("slug", sorted(CODED))
def test_every_part_a_declaration_names_resolves(slug):
    declared = hub(slug)
    for part, reference in declared.references().items():
        assert load(reference) is not None, f"{slug}'s {part} = {reference!r} resolves to nothing"
    assert declared.make_projection().hub == slug
    assert declared.event_types and declared.name
    names = [op.name for op in declared.make_operations()]
    assert "get_domain_summary" in names and len(names) == len(set(names))
    assert all(c.target_hub != slug or c.name for c in declared.make_couplings())


def test_an_unknown_hub_is_named_with_the_known_ones():
    with pytest.raises(NotFound, match="unknown hub 'nope-hub'; known hubs: aud-hub, canon-hub, dev-hub"):
        hub("nope-hub")
