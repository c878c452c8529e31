"""sec-hub's read model: findings and their sightings, exceptions, secret sets and rotation policies.

Nothing here depends on the clock: whether an exception is live or a rotation overdue is decided when a
read asks, against its `now`.
"""

import sqlalchemy as sa

from vsmesh.hubs.core import add_core_tables

metadata = sa.MetaData()
add_core_tables(metadata)
TIME = sa.TIMESTAMP(timezone=True)

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("finding_id", sa.Text, primary_key=True),
    sa.Column("service", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("rule", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("package", sa.Text),
    sa.Column("installed_version", sa.Text),
    sa.Column("fixed_version", sa.Text),
    sa.Column("target", sa.Text),
    sa.Column("production", sa.Boolean),
    sa.Column("status", sa.Text),  # open | fixed (accepted is read-time: a live exception covers it)
    sa.Column("last_report", sa.Text),
    sa.Column("last_seen_at", TIME),
    sa.Column("event_id", sa.Text),  # the latest report of it
    sa.Column("fixed_at", TIME),
    sa.Column("fixed_event_id", sa.Text),
)

# Every report of a finding, so "first seen" is a MIN over rows, whatever order a batch applies them in.
finding_sightings = sa.Table(
    "finding_sightings",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("finding_id", sa.Text, index=True, nullable=False),
    sa.Column("seen_at", TIME, nullable=False),
)

exceptions = sa.Table(
    "exceptions",
    metadata,
    sa.Column("exception_id", sa.Text, primary_key=True),
    sa.Column("finding_id", sa.Text),
    sa.Column("rule", sa.Text),
    sa.Column("service", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("compensating_control", sa.Text),
    sa.Column("expires_on", sa.Date),
    sa.Column("granted_at", TIME),
    sa.Column("granted_by", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("expired_event_id", sa.Text),  # set once the watch has published its expiry
    sa.Column("expired_seen_at", TIME),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("secret_set", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text),
    sa.Column("environment", sa.Text),
    sa.Column("tracked_at", TIME),
    sa.Column("tracked_event_id", sa.Text),
)

rotations = sa.Table(
    "rotations",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("secret_set", sa.Text, index=True, nullable=False),
    sa.Column("rotated_on", sa.Date, nullable=False),
    sa.Column("note", sa.Text),
)

rotation_policies = sa.Table(
    "rotation_policies",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("version", sa.Text),
    sa.Column("max_age_days", sa.Integer, nullable=False),
    sa.Column("adopted_at", TIME, nullable=False),
)
