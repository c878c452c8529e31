"""Subjects: an entity is always one literal token, never a wildcard."""

import pytest

from vsmesh.bus.subjects import entity_from_token, entity_token, event_subject
from vsmesh.errors import InvalidEvent


def test_design_example():
    assert entity_token("endpoint/gitea.coulomb.social") == "endpoint:gitea%2Ecoulomb%2Esocial"
    assert (
        event_subject("operational", "ops-hub", "ops-health-checked", "service/gitea")
        == "operational.ops-hub.ops-health-checked.service:gitea"
    )


@pytest.mark.parametrize("entity", ["a.b", "a*b", "a>b", "a b", "a%b", "x/y.z w", ">", "*"])
def test_wildcards_and_separators_are_escaped_and_reversible(entity):
    token = entity_token(entity)
    assert not set(token) & set(".*> \t")
    assert entity_from_token(token) == entity


def test_no_subject_is_underscore():
    assert entity_token(None) == "_"


def test_control_characters_are_refused():
    with pytest.raises(InvalidEvent, match="control characters"):
        entity_token("service/\x00gitea")


def test_hub_must_be_a_slug():
    with pytest.raises(InvalidEvent, match="hub 'ops.hub'"):
        event_subject("operational", "ops.hub", "ops-health-checked", None)
