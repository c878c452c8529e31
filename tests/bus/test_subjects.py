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


def test_every_code_point_is_judged_as_the_rule_says():
    # The rule: a control character (below 0x20, or DEL) or a lone surrogate, unless Python counts it as
    # whitespace (whitespace is escaped instead). entity_token checks it with one regex search.
    def refused(c: str) -> bool:
        code = ord(c)
        return (code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF) and not c.isspace()

    wrong = []
    for c in map(chr, range(0x110000)):
        try:
            entity_token(f"service/{c}")
            judged = False
        except InvalidEvent:
            judged = True
        if judged != refused(c):
            wrong.append(hex(ord(c)))
    assert wrong == []


def test_hub_must_be_a_slug():
    with pytest.raises(InvalidEvent, match="hub 'ops.hub'"):
        event_subject("operational", "ops.hub", "ops-health-checked", None)
