"""The core read model every hub shares. Tables carry no schema: the engine maps them per hub.

Keys are event ids, never serials, and times come from events, never now(), so a rebuild writes the
same rows. Every non-key column is nullable: a follow-up event upserts only the columns it knows
(PostgreSQL checks NOT NULL on the proposed row even when the upsert becomes an update).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.errors import ConfigError

TIME = sa.TIMESTAMP(timezone=True)


def _opened(prefix: str) -> list[sa.Column]:
    """Who opened the thing and when, plus the opening event's metadata."""
    return [
        sa.Column(f"{prefix}_at", TIME),
        sa.Column(f"{prefix}_by", sa.Text),
        sa.Column(f"{prefix}_by_kind", sa.Text),
        sa.Column("metadata", JSONB),
    ]


def _last_change() -> list[sa.Column]:
    """The latest follow-up event: what a list shows as 'updated'."""
    return [
        sa.Column("updated_at", TIME),
        sa.Column("updated_by", sa.Text),
        sa.Column("last_event_id", sa.Text),
        sa.Column("updated_seq", sa.BigInteger),
    ]


def _capabilities(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "capabilities",
        metadata,
        sa.Column("capability", sa.Text, primary_key=True),
        sa.Column("description", sa.Text),
        sa.Column("tags", JSONB),
        sa.Column("parameters_schema", JSONB),
        sa.Column("event_id", sa.Text),
        *_opened("registered"),
    )


def _capability_requests(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "capability_requests",
        metadata,
        sa.Column("request_id", sa.Text, primary_key=True),  # the capability-requested event's id
        sa.Column("capability", sa.Text),
        sa.Column("provider", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("parameters", JSONB),
        sa.Column("due_by", TIME),
        sa.Column("status", sa.Text),  # requested | accepted | in-progress | done | rejected | cancelled
        sa.Column("note", sa.Text),
        *_opened("requested"),
        *_last_change(),
    )


def _status_history(metadata: sa.MetaData) -> sa.Table:
    # Follow-ups as rows, so a request's (or risk's, alert's …) whole history survives, metadata included.
    return sa.Table(
        "status_history",
        metadata,
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("target_id", sa.Text, index=True),  # the id of the event that opened the thing
        sa.Column("type", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("at", TIME),
        sa.Column("actor", sa.Text),
        sa.Column("actor_kind", sa.Text),
        sa.Column("metadata", JSONB),
        sa.Column("stream", sa.Text),
        sa.Column("seq", sa.BigInteger),
    )


def _messages(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "messages",
        metadata,
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("recipient", sa.Text, index=True),  # a hub slug or an actor
        sa.Column("title", sa.Text),
        sa.Column("body", sa.Text),
        sa.Column("priority", sa.Text),
        sa.Column("reply_to", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("entity", sa.Text),
        sa.Column("read_at", TIME),
        sa.Column("read_by", sa.Text),
        *_opened("sent"),
    )


def _risks(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "risks",
        metadata,
        sa.Column("risk_id", sa.Text, primary_key=True),
        sa.Column("entity", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("severity", sa.Text),
        sa.Column("likelihood", sa.Text),
        sa.Column("category", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("owner", sa.Text),
        sa.Column("status", sa.Text),  # surfaced | mitigated | escalated | accepted
        sa.Column("mitigation", sa.Text),
        sa.Column("residual_severity", sa.Text),
        sa.Column("escalated_to", sa.Text),
        sa.Column("escalation_reason", sa.Text),
        sa.Column("acceptance_rationale", sa.Text),
        sa.Column("review_by", sa.Date),
        *_opened("surfaced"),
        *_last_change(),
    )


def _alerts(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "alerts",
        metadata,
        sa.Column("alert_id", sa.Text, primary_key=True),
        sa.Column("entity", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("severity", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("status", sa.Text),  # raised | acknowledged | resolved
        sa.Column("acknowledged_at", TIME),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("acknowledgement_note", sa.Text),
        sa.Column("resolved_at", TIME),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolution", sa.Text),
        *_opened("raised"),
        *_last_change(),
    )


def _annotations(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "annotations",
        metadata,
        sa.Column("annotation_id", sa.Text, primary_key=True),
        sa.Column("entity", sa.Text, index=True),
        sa.Column("category", sa.Text),
        sa.Column("body", sa.Text),
        sa.Column("target_event_id", sa.Text),
        *_opened("added"),
    )


def _escalations(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "escalations",
        metadata,
        sa.Column("escalation_id", sa.Text, primary_key=True),  # the canon-escalation-raised event's id
        sa.Column("entity", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("severity", sa.Text),
        sa.Column("from_hub", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("cause_event_id", sa.Text),
        sa.Column("status", sa.Text),  # raised | resolved
        sa.Column("decision", sa.Text),
        sa.Column("rationale", sa.Text),
        *_opened("raised"),
        *_last_change(),
    )


# The handlers write to these canonical tables; a hub's own copies (add_core_tables) have the same
# names and columns, and the engine's schema_translate_map sends both to the hub's schema.
CORE = sa.MetaData()
capabilities = _capabilities(CORE)
capability_requests = _capability_requests(CORE)
status_history = _status_history(CORE)
messages = _messages(CORE)
risks = _risks(CORE)
alerts = _alerts(CORE)
annotations = _annotations(CORE)
escalations = _escalations(CORE)


def add_core_tables(metadata: sa.MetaData) -> None:
    """Add the core tables to a hub's (schema-less) metadata."""
    for table in CORE.sorted_tables:
        own = metadata.tables.get(table.name)
        if own is None:
            table.to_metadata(metadata)
        elif set(own.c.keys()) != set(table.c.keys()):
            # Core handlers write the core columns: a hub table of the same name would break at the first event.
            raise ConfigError(
                f"the hub already has a table {table.name!r} unlike the core one; drop it or rename it "
                "and let the core handlers maintain it"
            )
