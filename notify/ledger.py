"""The notifier's ledger in PostgreSQL (schema `vsmesh_notify`): positions, (notification, receiver) rows, and
the routes and silences folded from canon's events — each written in the same transaction as the position
that read them, so a crash at any point neither loses a notification nor plans one twice.

A row's `notification_id` is the webhook-id: derived from the route, the receiver and the event that opened
it, so a re-read batch after a crash plans the same ids. Status: `pending` (due at `due_at`, retried at
`next_attempt_at`), `delivered`, `parked` (no more attempts: `vsmesh notify replay`), `suppressed` (a silence).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.projectors.engine.batches import hub_lock_key

SCHEMA = "vsmesh_notify"
metadata = sa.MetaData(schema=SCHEMA)
TS = sa.TIMESTAMP(timezone=True)

positions = sa.Table(
    "positions",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # Events up to here were stored before the notifier first ran: folded (routes, silences), never notified.
    sa.Column("notify_after", sa.BigInteger, nullable=False),
    sa.Column("updated_at", TS),
    sa.Column("last_error", sa.Text),
    sa.Column("error_at", TS),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("notification_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),  # planning order
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("receiver", sa.Text, nullable=False),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("events", JSONB, nullable=False),  # the CloudEvents it tells of, as stored
    sa.Column("event_ids", JSONB, nullable=False),
    sa.Column("facts", JSONB, nullable=False),  # hub, type, entity, horizon, severity of its first event: silences
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("first_stored_at", TS, nullable=False),  # its first event's time: latency is measured from it
    sa.Column("created_at", TS, nullable=False),
    sa.Column("due_at", TS, nullable=False),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("last_attempt_at", TS),
    sa.Column("delivered_at", TS),
    sa.Column("silence_id", sa.Text),
    sa.Index("notifications_due", "status", "next_attempt_at"),
    sa.Index("notifications_group", "route", "receiver", "group_key", "seq"),
    sa.Index("notifications_entity", "receiver", "entity", "seq"),
)

# What each opening event (an alert, a risk, an escalation) was told to: its resolution goes to the same receivers.
told = sa.Table(
    "told",
    metadata,
    sa.Column("opened_by", sa.Text, primary_key=True),
    sa.Column("route", sa.Text, primary_key=True),
    sa.Column("receiver", sa.Text, primary_key=True),
    sa.Column("notification_id", sa.Text, nullable=False),
)

# canon's policies as the notifier read them from the log (only their notify values matter here).
policies = sa.Table(
    "policies",
    metadata,
    sa.Column("policy", sa.Text, primary_key=True),
    sa.Column("values", JSONB),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("declared_at", TS, nullable=False),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("silence_id", sa.Text, primary_key=True),
    sa.Column("matchers", JSONB),
    sa.Column("starts_at", TS),
    sa.Column("until", TS),
    sa.Column("reason", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("expired_said", sa.Boolean, nullable=False, server_default=sa.false()),
)


async def ensure_ledger(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        # Two processes starting side by side both create the schema (IF NOT EXISTS guards no concurrent creator).
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(hub_lock_key(f"schema:{SCHEMA}"))))
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
