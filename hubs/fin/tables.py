"""fin-hub's read model: exact money (NUMERIC) per event, summed when asked (plus the core's tables).

Rows are keyed by event id and hold no running totals: a total is a SUM at read time, so a rebuild,
a replay or any batch boundary gives the same rows.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

metadata = sa.MetaData()
add_core_tables(metadata)


def _money() -> list[sa.Column]:
    # NUMERIC without a scale keeps every digit given: token prices go below a cent.
    return [sa.Column("amount", sa.Numeric, nullable=False), sa.Column("currency", sa.Text, nullable=False)]


budget_allocations = sa.Table(
    "budget_allocations",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("category", sa.Text),
    *_money(),
    sa.Column("allocated_at", sa.TIMESTAMP(timezone=True), nullable=False),
)

commitments = sa.Table(
    "commitments",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("cadence", sa.Text, nullable=False),
    *_money(),
    sa.Column("counterparty", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("starts_on", sa.Date),
    sa.Column("ends_on", sa.Date),
    sa.Column("recorded_at", sa.TIMESTAMP(timezone=True), nullable=False),
)

costs = sa.Table(
    "costs",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    *_money(),
    sa.Column("domain", sa.Text),
    sa.Column("service", sa.Text),
    sa.Column("category", sa.Text),
    sa.Column("vendor", sa.Text),
    sa.Column("period", sa.Text),
    sa.Column("month", sa.Text, nullable=False),  # YYYY-MM the spend counts in
    sa.Column("incurred_on", sa.Date),
    sa.Column("description", sa.Text),
    sa.Column("corrected_by", sa.Text),  # the latest fin-cost-corrected event that set this figure
)

token_spend = sa.Table(
    "token_spend",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("tokens_in", sa.BigInteger, nullable=False),
    sa.Column("tokens_out", sa.BigInteger, nullable=False),
    *_money(),
    sa.Column("session_id", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("month", sa.Text, nullable=False),
)

balances = sa.Table(
    "balances",
    metadata,
    sa.Column("account", sa.Text, primary_key=True),  # '' when the event names none
    sa.Column("as_of", sa.Date, primary_key=True),
    *_money(),
    sa.Column("event_id", sa.Text, nullable=False),
)

budget_alerts = sa.Table(
    "budget_alerts",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("period", sa.Text),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("threshold_pct", sa.Float),
    sa.Column("message", sa.Text),
    sa.Column("raised_at", sa.TIMESTAMP(timezone=True), nullable=False),
)

runway_projections = sa.Table(
    "runway_projections",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("balance", sa.Numeric, nullable=False),
    sa.Column("monthly_burn", sa.Numeric, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("months_remaining", sa.Float, nullable=False),
    sa.Column("projected_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("metadata", JSONB),
)

# Who spent model tokens (the event's actor): canon's agent spend threshold applies per agent and period.
agent_spend = sa.Table(
    "agent_spend",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("month", sa.Text, nullable=False),
    *_money(),
)
