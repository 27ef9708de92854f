"""Tables of named secrets and of job notifications' deliveries (migration 0013_secrets).

A secret's values are encrypted under a data key of its own (`ciphertext`); the data key is stored
wrapped by a master key (`wrapped_key`), whose id (`master_key_id`) says which key of the ring
opens it (core/secrets.py). Names, kinds and key names are not secret: they are what reads show.
"""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),  # unique in its team
    sa.Column("kind", sa.String(20), nullable=False),  # s3 | env | generic
    sa.Column("key_names", sa.JSON, nullable=False),  # the key names, sorted (shown; values never are)
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("ciphertext", sa.Text, nullable=False),  # Fernet(data key) of the values' JSON
    sa.Column("wrapped_key", sa.Text, nullable=False),  # Fernet(master key) of the data key
    sa.Column("master_key_id", sa.String(32), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # +1 per change of values
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("team_id", sa.String(64), primary_key=True, server_default="default"),
    sa.CheckConstraint("kind IN ('s3', 'env', 'generic')", name="ck_secrets_kind"),
)

# One row per message a job's notifications owe: a run's event (failure, success, retry, start,
# slow) for one destination. The unique key makes a message exist once however often the event is
# read (at least once) or the slow check runs; the row is then claimed, sent and marked, retried
# with backoff while it fails, and is the job's delivery history.
notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),  # failure | success | retry | start | slow
    sa.Column("attempt", sa.Integer, nullable=False),  # the attempt concerned; 0 when none
    sa.Column("destination", sa.String(64), nullable=False),  # a digest of the destination's spec
    sa.Column("kind", sa.String(20), nullable=False),  # webhook | chat | email
    sa.Column("target", sa.Text, nullable=False),  # what reads show: a host, addresses (never a token)
    sa.Column("spec", sa.JSON, nullable=False),  # the destination as configured when the event came
    sa.Column("payload", sa.JSON, nullable=False),  # the run event (with its seq)
    sa.Column("state", sa.String(20), nullable=False),  # pending | delivered | failed
    sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("owner", sa.String(200)),  # the publisher sending it now, under a lease
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float),
    sa.UniqueConstraint("run_id", "event", "attempt", "destination", name="uq_notification_once"),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="ck_notification_state"),
)
sa.Index("ix_notification_due", notification_deliveries.c.state, notification_deliveries.c.next_at)
sa.Index("ix_notification_job", notification_deliveries.c.job_id, notification_deliveries.c.created_at)
