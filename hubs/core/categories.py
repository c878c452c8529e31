"""Annotation categories: an annotation is about one of its hub's declared categories, or it is refused.

The contract and `vsmesh publish` refuse another category before anything is stored (hubs/vocabulary.py); the
projection refuses one that reached the log another way (its handler raises, so the event is quarantined with
the reason and can be replayed once the category is declared).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from vsmesh.events.schemas.core import AnnotationAdded
from vsmesh.hubs.core.projector import on_annotation_added
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handler, event_type_of

ANNOTATION_TYPE = event_type_of(AnnotationAdded)


def category_refusal(hub: str, category: object, allowed: Iterable[str] | None) -> str | None:
    """Why `hub` refuses an annotation of `category`, or None; `allowed` None: the hub declares none to check.
    A category that is no string is left to the schema, whose error names the field."""
    if allowed is None or not isinstance(category, str) or category in allowed:
        return None
    declared = ", ".join(sorted(allowed)) or "none"
    return (
        f"{hub} has no annotation category {category!r}: its manifest declares {declared}; "
        "annotate in one of those, or declare the category in the hub's manifest"
    )


@functools.cache
def _checking(allowed: frozenset[str]) -> Handler:
    def on_declared_annotation(event: AnnotationAdded, at: Applied, changes: Changes) -> None:
        refused = category_refusal(event.hub, event.data.category, allowed)
        if refused:
            raise ValueError(refused + ", then `vsmesh quarantine replay`")
        on_annotation_added(event, at, changes)

    return on_declared_annotation


def annotation_handler(categories: Iterable[str] | None) -> Handler:
    """The annotation fold of a hub declaring these categories (None: any category, as the bare core folds)."""
    return on_annotation_added if categories is None else _checking(frozenset(categories))
