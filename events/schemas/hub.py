"""hub-*: the hub registry, manifests, widgets and reverts; constitutional, kept forever.

A manifest's vocabulary decides which event types a hub accepts (DESIGN.md, Hubs), so hubs can be
created from these events alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId


class HubRegisteredData(EventData, frozen=True):
    slug: str  # e.g. ops-hub
    name: str
    hub_kind: str = "domain"
    hub_family: str | None = None  # e.g. vsm
    vsm_function: str | None = None  # OPS, SYN, CTL, AUD, INT, POL, ENV
    vsm_system: str | None = None  # S1 … S5, S3*
    description: str | None = None
    owner: str | None = None


class HubRegistered(Event, frozen=True, tag="hub-registered"):
    """A hub came to exist in the mesh."""

    data: HubRegisteredData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class HubManifestActivatedData(EventData, frozen=True):
    """The manifest's whole vocabulary; it replaces the hub's previously active one."""

    slug: str
    event_types: list[str]
    widget_types: list[str] = []
    annotation_categories: list[str] = []
    policy_scopes: list[str] = []
    horizon: Horizon | None = None
    vsm_function: str | None = None
    vsm_system: str | None = None
    scope: str | None = None
    revision: int | None = None


class HubManifestActivated(Event, frozen=True, tag="hub-manifest-activated"):
    """A hub's manifest became the active one."""

    data: HubManifestActivatedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class WidgetCreatedData(EventData, frozen=True):
    slug: str  # e.g. ops-service-gitea
    widget_type: str  # one of the manifest's widget types, e.g. ops-service
    title: str | None = None
    entity: str | None = None  # the subject it shows, e.g. service/gitea
    attributes: dict[str, Any] = {}


class WidgetCreated(Event, frozen=True, tag="widget-created"):
    """A governed widget (an operational surface) was seeded under a hub."""

    data: WidgetCreatedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class EventRevertedData(EventData, frozen=True):
    event_id: EventId
    event_type: str | None = None
    entity: str | None = None
    reason: str | None = None


class EventReverted(Event, frozen=True, tag="event-reverted"):
    """A person reverted an event; hubs re-fold the affected entity without it."""

    data: EventRevertedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class ChainCheckpointedData(EventData, frozen=True):
    stream: str  # the chained stream, CONSTITUTIONAL
    head_seq: int  # the stream sequence of the last event the signature covers
    head_hash: str  # that event's chain hash (hex sha-256)
    key_id: str  # the signing key's fingerprint (sha-256 of its raw public key, hex, first 16)
    public_key: str  # the raw Ed25519 public key, hex: an auditor checks it against the one exported
    signature: str  # Ed25519 over "{stream}:{head_seq}:{head_hash}", hex


class ChainCheckpointed(Event, frozen=True, tag="chain-checkpointed"):
    """The mesh's signing key vouched for the constitutional record up to a head (`vsmesh verify --sign`)."""

    data: ChainCheckpointedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL
