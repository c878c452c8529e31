"""aud-hub's read model: one row per finding, open or resolved, with the evidence of its latest raise."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

metadata = sa.MetaData()
add_core_tables(metadata)
TIME = sa.TIMESTAMP(timezone=True)

# Columns are nullable: a resolution upserts only its own columns (an upsert is an INSERT first to PostgreSQL).
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("finding_id", sa.Text, primary_key=True),
    sa.Column("check_name", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("status", sa.Text),  # open | resolved
    sa.Column("evidence", JSONB),
    sa.Column("digest", sa.Text),
    sa.Column("raised_at", TIME),
    sa.Column("raised_event_id", sa.Text),
    sa.Column("resolved_at", TIME),
    sa.Column("resolved_event_id", sa.Text),
    sa.Column("resolution", sa.Text),
)
