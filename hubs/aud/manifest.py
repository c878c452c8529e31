"""aud-hub's identity and the event types it accepts, read from its manifest (manifest.yaml beside this module):
the one list the coded hub folds and the registry activates (`vsmesh hub bootstrap aud-hub`)."""

from vsmesh.hubs.registry.manifest_model import packaged_manifest

MANIFEST = packaged_manifest(__name__)
SLUG = MANIFEST.slug
NAME = MANIFEST.identity.name
VSM_FUNCTION = MANIFEST.identity.vsm_function
VSM_SYSTEM = MANIFEST.identity.vsm_system
EVENT_TYPES = tuple(MANIFEST.vocabulary.event_types)
ANNOTATION_CATEGORIES = tuple(MANIFEST.vocabulary.annotation_categories)
