"""Tables of the sinks: one delivery cursor (with its lease) per sink, and the registered webhooks.

They join the store's one MetaData; migration 0003_sinks creates exactly these.
"""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata, team_id

# One row per sink ("nats", "webhook:<id>"). `position` is the last outbox seq delivered; the
# owner/lease pair makes one publisher process at a time deliver for the sink (see store/sink_cursors.py).
sink_cursors = sa.Table(
    "sink_cursors",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("owner", sa.String(200)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),  # in a row, since the last success
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.Float),
    sa.Column("updated_at", sa.Float, nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.JSON),  # list of event names; NULL: every event
    sa.Column("secret", sa.Text, nullable=False),  # sealed with the SecretBox, never shown again
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    team_id(),  # it hears only its team's events
)
