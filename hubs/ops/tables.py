"""ops-hub's read model. Tables carry no schema: the engine maps them to the live or a rebuild schema."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

RECENT_EVENTS_KEPT = 200

metadata = sa.MetaData()

services = sa.Table(
    "services",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),  # CloudEvents subject, e.g. service/gitea
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("environment", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("attributes", JSONB),
    sa.Column("status", sa.Text),  # green | amber | red; NULL until the first health evidence
    sa.Column("checked_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("observations", JSONB),
    sa.Column("evidence_event_id", sa.Text),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("raised_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
)

recent_events = sa.Table(
    "recent_events",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("time", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("entity", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)
