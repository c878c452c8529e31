"""One vocabulary per hub: what a hub's manifest declares is what its projection folds, and annotations keep to the
manifest's categories. Projections are asked what they would do with each type (no servers); `vsmesh publish`
refuses an annotation outside the categories at the edge (the session's mesh)."""

from __future__ import annotations

import json
import uuid

import pytest

from vsmesh.bus.publisher import Publisher
from vsmesh.events.registry import REGISTRY
from vsmesh.hubs import discovered, hub
from vsmesh.hubs.core import SHARED_TYPES
from vsmesh.hubs.registry import projector as registry_projector
from vsmesh.hubs.registry.manifest_model import coded_manifests, load_manifest, shipped_dir, shipped_manifests
from vsmesh.hubs.registry.projector import manifest_projection
from vsmesh.hubs.vocabulary import Vocabularies, from_row
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Projection, refuse_undeclared
from vsmesh.settings import Settings

MANIFEST_HUBS = sorted(load_manifest(p).slug for p in shipped_dir().glob("*.yaml"))


def accepted(projection: Projection) -> set[str]:
    """Every known type the projection folds or lets by, rather than quarantining it."""
    refused = {refuse_undeclared, registry_projector._refuse_undeclared}
    return {t for t in REGISTRY.types() if projection.handler_for(REGISTRY[t]) not in refused}


@pytest.mark.parametrize("slug", sorted(discovered()))
def test_a_coded_hub_folds_exactly_what_its_manifest_declares(slug):
    declared = hub(slug)
    # Every declared type has a schema: a name without one is quarantined by the coded hub as undeclared.
    assert not [t for t in declared.event_types if t not in REGISTRY], f"{slug} declares types with no schema"
    assert accepted(declared.make_projection()) == set(declared.event_types) | SHARED_TYPES
    assert declared.annotation_categories, f"{slug} declares no annotation categories: `annotate` refuses all"


@pytest.mark.parametrize("slug", sorted(coded_manifests()))
def test_a_coded_hubs_manifest_file_is_the_list_it_folds(slug):
    manifest = load_manifest(coded_manifests()[slug])
    assert manifest.slug == slug
    assert tuple(manifest.vocabulary.event_types) == hub(slug).event_types
    assert tuple(manifest.vocabulary.annotation_categories) == hub(slug).annotation_categories
    # No second list: a coded hub's manifest is not shipped in manifests/ as well.
    assert [p for p in shipped_manifests() if load_manifest(p).slug == slug] == [coded_manifests()[slug]]


@pytest.mark.parametrize("slug", MANIFEST_HUBS)
def test_a_manifest_hub_folds_exactly_what_its_manifest_declares(slug):
    manifest = load_manifest(shipped_dir() / f"{slug}.yaml")
    vocabularies = Vocabularies()
    vocabularies.learn(from_row(manifest.activation() | {"revision": 1}))
    projection = manifest_projection(slug)
    projection.vocabularies = vocabularies
    assert accepted(projection) == set(manifest.vocabulary.event_types) | SHARED_TYPES


def annotation(hub_slug: str, category: str):
    publisher = Publisher(None, Settings())  # build only: nothing is published
    data = {"category": category, "body": "no restore test"}
    return publisher.build("annotation-added", hub=hub_slug, subject="service/gitea", data=data)


@pytest.mark.parametrize("slug", ["ops-hub", "dev-hub", "syn-hub"])
def test_an_annotation_outside_the_hubs_categories_is_quarantined(slug):
    if slug in discovered():
        projection, categories = hub(slug).make_projection(), hub(slug).annotation_categories
    else:
        manifest = load_manifest(shipped_dir() / f"{slug}.yaml")
        projection = manifest_projection(slug)
        projection.vocabularies = Vocabularies()
        projection.vocabularies.learn(from_row(manifest.activation() | {"revision": 1}))
        categories = tuple(manifest.vocabulary.annotation_categories)
    fold = projection.handler_for(REGISTRY["annotation-added"])
    # A declared category folds into the annotations table.
    changes = Changes()
    fold(annotation(slug, categories[0]), Applied("TACTICAL", 1), changes)
    assert [table.name for table in changes._upserts] == ["annotations"]
    # Another is refused (the engine quarantines the event with this reason): the category and the fix are named.
    with pytest.raises(ValueError, match=f"{slug} has no annotation category 'blue-sky'.*{categories[0]}"):
        fold(annotation(slug, "blue-sky"), Applied("TACTICAL", 2), Changes())


def test_vsmesh_publish_refuses_an_annotation_outside_the_categories(cli, running_mesh):
    about = f"service/cat-{uuid.uuid4().hex[:8]}"
    refused = cli("publish", "annotation-added", "--hub", "dev-hub", "--subject", about,
                  "--data", '{"category": "blue-sky", "body": "x"}')  # fmt: skip
    assert refused.exit_code == 1
    assert refused.output.startswith("error: refused: dev-hub has no annotation category 'blue-sky'")
    assert "dev-test-gap" in refused.output  # the categories it declares
    kept = cli("publish", "annotation-added", "--hub", "dev-hub", "--subject", about,
               "--data", '{"category": "dev-test-gap", "body": "x"}', "--json")  # fmt: skip
    assert kept.exit_code == 0, kept.output
    # Only the declared one was stored.
    audit = json.loads(cli("audit", "--json", "--limit", "0", "--hub", "dev-hub", "--since", "10m").stdout)
    assert [a["id"] for a in audit if a["entity"] == about] == [json.loads(kept.stdout)["id"]]
