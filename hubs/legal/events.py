"""legal-*: the vendor register (TPSC), GDPR Art. 30 records of processing and the AI Act register.

Subjects: `vendor/<slug>`, `processing/<slug>`, `ai-system/<actor>`, `service/<name>`. A later record of
the same vendor (or activity, or AI system) replaces the earlier one: the register is what was last said.
Countries are ISO 3166-1 alpha-2 codes (`DE`, `US`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar, Literal

import msgspec

from vsmesh.events.envelope import Event, EventData, Horizon

FAMILY = "legal"

Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE")]
DpaStatus = Literal["signed", "pending", "none", "not-required"]
TransferMechanism = Literal["adequacy", "scc", "bcr", "derogation", "none"]
LegalBasis = Literal[
    "consent", "contract", "legal-obligation", "vital-interests", "public-task", "legitimate-interests"
]
AiRiskClass = Literal["minimal", "limited", "high", "unacceptable", "gpai"]


class VendorRecordedData(EventData, frozen=True):
    vendor: str  # slug
    name: str | None = None
    service: str | None = None  # the service or tool bought
    purpose: str | None = None
    data_categories: list[str] = []
    personal_data: bool = False
    location: Country | None = None
    dpa_status: DpaStatus = "none"
    dpa_signed_on: dt.date | None = None
    transfer_mechanism: TransferMechanism | None = None
    review_by: dt.date | None = None
    aliases: list[str] = []  # how fin names the vendor (`hetzner`, `Anthropic`)


class LegalVendorRecorded(Event, frozen=True, tag="legal-vendor-recorded"):
    """A vendor (third-party service or tool) entered or updated in the register."""

    data: VendorRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class DpaRecordedData(EventData, frozen=True):
    vendor: str
    signed_on: dt.date
    document: str | None = None


class LegalDpaRecorded(Event, frozen=True, tag="legal-dpa-recorded"):
    """A data processing agreement with a vendor was signed."""

    data: DpaRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class ProcessingRecordedData(EventData, frozen=True):
    activity: str  # slug
    purpose: str
    legal_basis: LegalBasis
    data_subjects: list[str] = []
    data_categories: list[str] = []
    recipients: list[str] = []  # vendor slugs
    retention: str | None = None
    toms: list[str] = []  # technical and organisational measures
    services: list[str] = []  # ops service names the activity runs on


class LegalProcessingRecorded(Event, frozen=True, tag="legal-processing-recorded"):
    """A record of processing activities (GDPR Art. 30) entered or updated."""

    data: ProcessingRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class AiSystemRegisteredData(EventData, frozen=True):
    actor: str  # the agent's actor id as events name it
    owner: str
    purpose: str
    risk_class: AiRiskClass = "minimal"
    human_oversight: str | None = None  # e.g. "every event revertible by a person (vsmesh revert)"


class LegalAiSystemRegistered(Event, frozen=True, tag="legal-ai-system-registered"):
    """An AI system (an agent acting on the mesh) entered in the AI Act register."""

    data: AiSystemRegisteredData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class AgentObservedData(EventData, frozen=True):
    actor: str
    seen_on_hub: str
    event_type: str
    cause_event_id: str


class LegalAgentObserved(Event, frozen=True, tag="legal-agent-observed"):
    """An actor of kind agent acted on the log (one per agent and hub it acts on, by a coupling)."""

    data: AgentObservedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class ServiceNotedData(EventData, frozen=True):
    service: str
    personal_data: bool
    cause_event_id: str


class LegalServiceNoted(Event, frozen=True, tag="legal-service-noted"):
    """ops-hub said whether a service handles personal data (by a coupling from its inventory)."""

    data: ServiceNotedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class VendorSpendSeenData(EventData, frozen=True):
    vendor: str
    cause_event_id: str


class LegalVendorSpendSeen(Event, frozen=True, tag="legal-vendor-spend-seen"):
    """fin-hub recorded money paid to a vendor (by a coupling): a vendor the register must know."""

    data: VendorSpendSeenData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC
