"""dev-hub's read model: repos, deployments, what runs where, blockers and decisions (plus the core's)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

metadata = sa.MetaData()
add_core_tables(metadata)

repos = sa.Table(
    "repos",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("url", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("default_branch", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("registered_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("metadata", JSONB),
)

# What the forge last said of each repository (its push and release webhooks), registered or not.
repo_activity = sa.Table(
    "repo_activity",
    metadata,
    sa.Column("repo", sa.Text, primary_key=True),
    sa.Column("ref", sa.Text),
    sa.Column("commit", sa.Text),
    sa.Column("pusher", sa.Text),
    sa.Column("pushed_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("release", sa.Text),
    sa.Column("released_at", sa.TIMESTAMP(timezone=True)),
)

deployments = sa.Table(
    "deployments",
    metadata,
    # The id of the deployment's first event (started, or the end event when CI reports only that).
    sa.Column("deployment_id", sa.Text, primary_key=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("version", sa.Text),
    sa.Column("environment", sa.Text),
    sa.Column("status", sa.Text, nullable=False),  # started | completed | failed | rolled-back
    sa.Column("started_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("finished_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("repo", sa.Text),
    sa.Column("commit", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("detail", sa.Text),  # the error, the rollback reason or path
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

# What version runs where, after the latest completed deployment or rollback.
running = sa.Table(
    "running",
    metadata,
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("environment", sa.Text, primary_key=True),  # '' when the events name none
    sa.Column("version", sa.Text),
    sa.Column("deployment_id", sa.Text, nullable=False),
    sa.Column("since", sa.TIMESTAMP(timezone=True), nullable=False),
)

blockers = sa.Table(
    "blockers",
    metadata,
    sa.Column("blocker_id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text),  # NULL only while a clear arrived for a blocker this hub never saw
    sa.Column("severity", sa.Text),
    sa.Column("blocking", JSONB),
    sa.Column("description", sa.Text),
    sa.Column("cause_event_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False),  # raised | cleared
    sa.Column("raised_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("cleared_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("resolution", sa.Text),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text),
    sa.Column("decision", sa.Text),
    sa.Column("rationale", sa.Text),
    sa.Column("alternatives", JSONB),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("supersedes", sa.Text),
    sa.Column("superseded_by", sa.Text),
    sa.Column("recorded_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("actor", sa.Text),
)
