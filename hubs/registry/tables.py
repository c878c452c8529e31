"""The registry's read model (schema `registry`) and a manifest hub's generic tables (in its own schema)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from vsmesh.hubs.core import add_core_tables

TIME = sa.TIMESTAMP(timezone=True)

# --- the registry: every hub, every manifest version, who claims which event type, every widget
registry_metadata = sa.MetaData()

hubs = sa.Table(
    "hubs",
    registry_metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("hub_kind", sa.Text),
    sa.Column("hub_family", sa.Text),
    sa.Column("vsm_function", sa.Text),
    sa.Column("vsm_system", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("registered_at", TIME),
    sa.Column("registered_event_id", sa.Text),
    sa.Column("active_manifest_id", sa.Text),
    sa.Column("active_revision", sa.Integer),
)

manifests = sa.Table(
    "manifests",
    registry_metadata,
    sa.Column("manifest_id", sa.Text, primary_key=True),  # the hub-manifest-activated event's id
    sa.Column("slug", sa.Text, index=True),
    sa.Column("revision", sa.Integer),
    sa.Column("status", sa.Text),  # active | superseded | rejected
    sa.Column("reason", sa.Text),
    sa.Column("content_hash", sa.Text),
    sa.Column("horizon", sa.Text),
    sa.Column("event_types", JSONB),
    sa.Column("widget_types", JSONB),
    sa.Column("annotation_categories", JSONB),
    sa.Column("policy_scopes", JSONB),
    sa.Column("activated_at", TIME),
    sa.Column("actor", sa.Text),
    sa.Column("seq", sa.BigInteger),
)

claims = sa.Table(  # which hub's active manifest owns an event type (core and hub-* types are shared)
    "claims",
    registry_metadata,
    sa.Column("event_type", sa.Text, primary_key=True),
    sa.Column("slug", sa.Text),
    sa.Column("manifest_id", sa.Text),
)

widgets = sa.Table(
    "widgets",
    registry_metadata,
    sa.Column("hub", sa.Text, primary_key=True),
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("widget_type", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("entity", sa.Text),
    sa.Column("attributes", JSONB),
    sa.Column("event_id", sa.Text),
    sa.Column("created_at", TIME),
)

# --- a manifest hub: the core's tables plus its declared events' timeline (widgets and vocabulary are
# the registry's: their events live in the registry's namespace)
generic_metadata = sa.MetaData()
add_core_tables(generic_metadata)

timeline = sa.Table(  # every declared event, under the widget (or entity) it names as subject
    "timeline",
    generic_metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, index=True),
    sa.Column("type", sa.Text),
    sa.Column("time", TIME),
    sa.Column("actor", sa.Text),
    sa.Column("actor_kind", sa.Text),
    sa.Column("data", JSONB),
    sa.Column("metadata", JSONB),
    sa.Column("stream", sa.Text),
    sa.Column("seq", sa.BigInteger),
)
