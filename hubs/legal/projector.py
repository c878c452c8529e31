"""legal-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.legal import manifest
from vsmesh.hubs.legal.events import (
    LegalAgentObserved,
    LegalAiSystemRegistered,
    LegalDpaRecorded,
    LegalProcessingRecorded,
    LegalServiceNoted,
    LegalVendorRecorded,
    LegalVendorSpendSeen,
)
from vsmesh.hubs.legal.tables import (
    agents_seen,
    ai_systems,
    dpas,
    metadata,
    processing,
    services,
    vendor_spend,
    vendors,
)
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers, Projection


def on_vendor_recorded(event: LegalVendorRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        vendors,
        {
            "vendor": d.vendor,
            "name": d.name,
            "service": d.service,
            "purpose": d.purpose,
            "data_categories": list(d.data_categories),
            "personal_data": d.personal_data,
            "location": d.location,
            "dpa_status": d.dpa_status,
            "dpa_signed_on": d.dpa_signed_on,
            "transfer_mechanism": d.transfer_mechanism,
            "review_by": d.review_by,
            "aliases": [a.lower() for a in d.aliases],
            "event_id": event.id,
            "recorded_at": event.time,
        },
    )


def on_dpa_recorded(event: LegalDpaRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(dpas, {"event_id": event.id, "vendor": d.vendor, "signed_on": d.signed_on, "document": d.document})


def on_processing_recorded(event: LegalProcessingRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        processing,
        {
            "activity": d.activity,
            "purpose": d.purpose,
            "legal_basis": d.legal_basis,
            "data_subjects": list(d.data_subjects),
            "data_categories": list(d.data_categories),
            "recipients": list(d.recipients),
            "retention": d.retention,
            "toms": list(d.toms),
            "services": list(d.services),
            "event_id": event.id,
            "recorded_at": event.time,
        },
    )


def on_ai_system_registered(event: LegalAiSystemRegistered, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        ai_systems,
        {"actor": d.actor, "owner": d.owner, "purpose": d.purpose, "risk_class": d.risk_class,
         "human_oversight": d.human_oversight, "event_id": event.id, "registered_at": event.time},
    )  # fmt: skip


def on_agent_observed(event: LegalAgentObserved, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        agents_seen,
        {"actor": d.actor, "hub": d.seen_on_hub, "event_type": d.event_type, "cause_event_id": d.cause_event_id,
         "event_id": event.id, "seen_at": event.time},
    )  # fmt: skip


def on_service_noted(event: LegalServiceNoted, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        services,
        {"service": d.service, "personal_data": d.personal_data, "cause_event_id": d.cause_event_id,
         "event_id": event.id, "noted_at": event.time},
    )  # fmt: skip


def on_vendor_spend_seen(event: LegalVendorSpendSeen, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        vendor_spend,
        {"event_id": event.id, "vendor": d.vendor.lower(), "cause_event_id": d.cause_event_id, "seen_at": event.time},
    )


HANDLERS: Handlers = {
    LegalVendorRecorded: on_vendor_recorded,
    LegalDpaRecorded: on_dpa_recorded,
    LegalProcessingRecorded: on_processing_recorded,
    LegalAiSystemRegistered: on_ai_system_registered,
    LegalAgentObserved: on_agent_observed,
    LegalServiceNoted: on_service_noted,
    LegalVendorSpendSeen: on_vendor_spend_seen,
}


def projection() -> Projection:
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES, manifest.ANNOTATION_CATEGORIES)
