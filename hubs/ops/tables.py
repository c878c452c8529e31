"""ops-hub's read model. Tables carry no schema: the engine maps them to the live or a rebuild schema.

Every row is keyed by what the log says (entity subjects, event ids, stream sequences) and stamped
with event times, never with serials or now(), so a rebuild gives identical rows. Health staleness
depends on the reader's clock, so it is computed when answering, never stored.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

RECENT_EVENTS_KEPT = 200

metadata = sa.MetaData()
add_core_tables(metadata)


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.TIMESTAMP(timezone=True))


# Environments, hosts, clusters, services, endpoints, data stores, releases, backup sets, secret sets,
# runbooks, access paths, readiness gates, migration waves and operational debt: one row per entity.
# Relations (service runs on host in environment, endpoint of service, gate of wave) are attributes
# named after the related entity's kind (`host`, `service`, `wave`, …) holding its name.
inventory = sa.Table(
    "inventory",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),  # CloudEvents subject, e.g. service/gitea
    sa.Column("kind", sa.Text),
    sa.Column("kind_detail", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("environment", sa.Text),
    sa.Column("owner", sa.Text),
    _ts("registered_at"),  # NULL: only discovered or seen in evidence, not catalogued
    sa.Column("registered_event_id", sa.Text),
    sa.Column("discovered_via", sa.Text),
    _ts("discovered_at"),
    _ts("last_seen"),  # the latest ops-inventory-seen naming it: a source saw it running then
    _ts("retired_at"),
    sa.Column("retired_reason", sa.Text),
    sa.Column("replaced_by", sa.Text),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

# One row per attribute, so an update merges keys without reading the row (handlers are pure).
inventory_attributes = sa.Table(
    "inventory_attributes",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", JSONB),
    sa.Column("removed", sa.Boolean, nullable=False),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

# The latest evidence of each kind (health, endpoint, backup, restore, runbook, release) per entity.
evidence = sa.Table(
    "evidence",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),  # green | amber | red as observed, before staleness
    _ts("at"),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("detail", JSONB),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("incident_id", sa.Text, primary_key=True),  # the id of the ops-incident-opened event
    sa.Column("entity", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("status", sa.Text),  # open | investigating | mitigated | resolved
    sa.Column("description", sa.Text),
    sa.Column("affected", JSONB),
    sa.Column("commander", sa.Text),
    _ts("opened_at"),
    _ts("updated_at"),
    _ts("resolved_at"),
    sa.Column("resolution", sa.Text),
    sa.Column("root_cause", sa.Text),
    sa.Column("postmortem", sa.Text),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

incident_timeline = sa.Table(
    "incident_timeline",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("incident_id", sa.Text, nullable=False, index=True),
    sa.Column("event_id", sa.Text, nullable=False),
    _ts("time"),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("actor", sa.Text),
)

# A gate's readiness (green/amber/red with evidence) and its latest wave verdict (passed/failed);
# `passing` follows whichever of the two came last in the log.
readiness_gates = sa.Table(
    "readiness_gates",
    metadata,
    sa.Column("gate", sa.Text, primary_key=True),
    sa.Column("wave", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("owner_repo", sa.Text),
    sa.Column("evidence_required", sa.Text),
    sa.Column("evidence_event_ids", JSONB),
    sa.Column("note", sa.Text),
    sa.Column("verdict", sa.Text),
    sa.Column("verdict_reason", sa.Text),
    sa.Column("passing", sa.Boolean),
    _ts("updated_at"),
    sa.Column("updated_by", sa.Text),
    sa.Column("event_id", sa.Text),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)

change_records = sa.Table(
    "change_records",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text),
    _ts("time"),
    sa.Column("actor", sa.Text),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("change_kind", sa.Text),
    sa.Column("environment", sa.Text),
    sa.Column("version", sa.Text),
    sa.Column("rollback_path", sa.Text),
    sa.Column("reference", sa.Text),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# Operational debt: drift between what runs and what the owning repo declares, latest per entity.
debts = sa.Table(
    "debts",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("category", sa.Text, primary_key=True),  # drift, …
    sa.Column("summary", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("source_of_truth", sa.Text),
    sa.Column("desired", JSONB),
    sa.Column("actual", JSONB),
    _ts("detected_at"),
    sa.Column("event_id", sa.Text),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
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
    sa.Index("ix_recent_events_order", "time", "stream", "seq"),  # the trim after each batch walks it
)

# Costs fin attributed to a service (fin-cost-recorded on ops-hub, from the fin-cost-to-ops-service coupling).
service_costs = sa.Table(
    "service_costs",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, nullable=False, index=True),  # service/<name>
    sa.Column("amount", sa.Numeric, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("period", sa.Text),
    sa.Column("category", sa.Text),
    _ts("time"),
    sa.Column("seq", sa.BigInteger, nullable=False),
)
