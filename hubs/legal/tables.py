"""legal-hub's read model: the registers as last recorded, plus what couplings observed on other hubs.

Each row keeps the id of the event that made it, so a gap can name the events it comes from.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

metadata = sa.MetaData()
add_core_tables(metadata)
TIME = sa.TIMESTAMP(timezone=True)

vendors = sa.Table(
    "vendors",
    metadata,
    sa.Column("vendor", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("service", sa.Text),
    sa.Column("purpose", sa.Text),
    sa.Column("data_categories", JSONB),
    sa.Column("personal_data", sa.Boolean),
    sa.Column("location", sa.Text),
    sa.Column("dpa_status", sa.Text),
    sa.Column("dpa_signed_on", sa.Date),
    sa.Column("transfer_mechanism", sa.Text),
    sa.Column("review_by", sa.Date),
    sa.Column("aliases", JSONB),
    sa.Column("event_id", sa.Text),
    sa.Column("recorded_at", TIME),
)

dpas = sa.Table(
    "dpas",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("vendor", sa.Text, index=True, nullable=False),
    sa.Column("signed_on", sa.Date, nullable=False),
    sa.Column("document", sa.Text),
)

processing = sa.Table(
    "processing",
    metadata,
    sa.Column("activity", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text),
    sa.Column("legal_basis", sa.Text),
    sa.Column("data_subjects", JSONB),
    sa.Column("data_categories", JSONB),
    sa.Column("recipients", JSONB),
    sa.Column("retention", sa.Text),
    sa.Column("toms", JSONB),
    sa.Column("services", JSONB),
    sa.Column("event_id", sa.Text),
    sa.Column("recorded_at", TIME),
)

ai_systems = sa.Table(
    "ai_systems",
    metadata,
    sa.Column("actor", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text),
    sa.Column("purpose", sa.Text),
    sa.Column("risk_class", sa.Text),
    sa.Column("human_oversight", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("registered_at", TIME),
)

agents_seen = sa.Table(
    "agents_seen",
    metadata,
    sa.Column("actor", sa.Text, primary_key=True),
    sa.Column("hub", sa.Text, primary_key=True),
    sa.Column("event_type", sa.Text),
    sa.Column("cause_event_id", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("seen_at", TIME),
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("personal_data", sa.Boolean),
    sa.Column("cause_event_id", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("noted_at", TIME),
)

vendor_spend = sa.Table(
    "vendor_spend",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("vendor", sa.Text, index=True, nullable=False),
    sa.Column("cause_event_id", sa.Text),
    sa.Column("seen_at", TIME),
)
