"""The image of each container job: where its import (pull) stands, and the digest it got.

A Stevedore task is a container job; its status (SUBMITTED → IMPORTING → READY | ERROR) is the
status of this row. `repository` is set for tasks registered through Stevedore, where a repository
is one task (registering it again is refused), and left NULL for native container jobs.
"""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata

container_images = sa.Table(
    "container_images",
    metadata,
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("image", sa.String(500), nullable=False),
    sa.Column("repository", sa.String(500), unique=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("image_digest", sa.String(200)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("status IN ('SUBMITTED', 'IMPORTING', 'READY', 'ERROR')",
                       name="ck_container_images_status"),
)
