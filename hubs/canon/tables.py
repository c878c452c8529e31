"""canon-hub's read model: policies and their versions, mandates (plus the core's, escalations among them)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

metadata = sa.MetaData()
add_core_tables(metadata)

_POLICY_COLUMNS = (
    ("version", sa.Text),
    ("title", sa.Text),
    ("scope", sa.Text),
    ("statement", sa.Text),
    ("document", sa.Text),
    ("supersedes", sa.Text),
    ("values", JSONB),  # machine-readable values, e.g. {"spend_threshold_pct": 90}
    ("event_id", sa.Text),
    ("declared_at", sa.TIMESTAMP(timezone=True)),
    ("actor", sa.Text),
)

# Every version ever declared, kept: a policy's history is part of the constitution.
policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("policy", sa.Text, primary_key=True),
    sa.Column("version_key", sa.Text, primary_key=True),  # the version, or the event id when none was given
    *(sa.Column(name, kind) for name, kind in _POLICY_COLUMNS),
)

# The version in force: the latest declared.
policies = sa.Table(
    "policies",
    metadata,
    sa.Column("policy", sa.Text, primary_key=True),
    *(sa.Column(name, kind) for name, kind in _POLICY_COLUMNS),
)

mandates = sa.Table(
    "mandates",
    metadata,
    sa.Column("mandate_id", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("scope", sa.Text),
    sa.Column("constraints", JSONB),
    sa.Column("granted_until", sa.TIMESTAMP(timezone=True)),
    sa.Column("granted_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("granted_by", sa.Text, nullable=False),
    sa.Column("delegated_from", sa.Text),  # the mandate this one was delegated from (metadata.delegated_from)
)

# A revoked mandate keeps its grant row (the constitution's history); this says it no longer holds.
mandate_revocations = sa.Table(
    "mandate_revocations",
    metadata,
    sa.Column("mandate_id", sa.Text, primary_key=True),
    sa.Column("revoked_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("revoked_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("event_id", sa.Text, nullable=False),
)

# Escalations received and their resolution live in the core's `escalations` table (core handlers).
escalations = metadata.tables["escalations"]

# An escalation's clock: the horizon it was raised with, and each re-escalation past canon's SLA for it.
escalation_clocks = sa.Table(
    "escalation_clocks",
    metadata,
    sa.Column("escalation_id", sa.Text, primary_key=True),
    sa.Column("horizon", sa.Text),  # as raised (data.horizon); unset: judged by the from_hub's horizon
    sa.Column("re_escalations", sa.Integer),  # how many SLAs have passed unanswered, as last re-escalated
    sa.Column("overdue_since", sa.TIMESTAMP(timezone=True)),  # when the first SLA ran out
    sa.Column("due_at", sa.TIMESTAMP(timezone=True)),  # when the latest re-escalation fell due
    sa.Column("sla_s", sa.Float),
    sa.Column("overdue_event_id", sa.Text),  # the latest canon-escalation-overdue
)

# The gateway's refusals (canon-call-refused): who tried to call what without the mandate for it, so the
# constitutional page's audit shows attempts beside the mandates. New beside the first tables: a read model
# made before has it created empty at start (`vsmesh rebuild canon-hub` fills it from the log).
refused_calls = sa.Table(
    "refused_calls",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("hub", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("access", sa.Text),
    sa.Column("missing_mandate", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False, index=True),
)

# Silences people set on notifications (notification-silence-set): matchers, from when until when, who and why;
# `expired_at` once the notifier said the time ran out. A silence holds until `until` whether or not that was said;
# columns may be empty because an expiry folds as an upsert of its own two columns.
silences = sa.Table(
    "silences",
    metadata,
    sa.Column("silence_id", sa.Text, primary_key=True),
    sa.Column("matchers", JSONB),
    sa.Column("starts_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("until", sa.TIMESTAMP(timezone=True)),
    sa.Column("reason", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("author_kind", sa.Text),
    sa.Column("set_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("expired_at", sa.TIMESTAMP(timezone=True)),
)

# Calls the gateway held for a person's approval (canon-approval-requested), each with the person's decision
# (canon-approval-decided) and what came of it (canon-approval-executed). Expiry is judged when read. Only the
# key is NOT NULL: a decision or an outcome updates its columns with an upsert, whose proposed row PostgreSQL
# checks before it finds the conflict.
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("approval_id", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text),
    sa.Column("holder_kind", sa.Text),
    sa.Column("hub", sa.Text),
    sa.Column("operation", sa.Text),
    sa.Column("arguments", JSONB),
    sa.Column("arguments_hash", sa.Text),
    sa.Column("condition", sa.Text),
    sa.Column("mandate_id", sa.Text),
    sa.Column("requested_at", sa.TIMESTAMP(timezone=True), index=True),
    sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("status", sa.Text),  # pending, approved, denied, executed, refused, failed
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("reason", sa.Text),  # the person's, or why an approved call did not run
    sa.Column("result_event_id", sa.Text),  # the write the approved call published
    sa.Column("result_stream", sa.Text),
    sa.Column("result_seq", sa.BigInteger),
)
