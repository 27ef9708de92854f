"""The table of container hosts (migration 0015_hosts): the machines that may run cluster nodes
and container tasks, each reached only through its Docker-compatible container API (docs/hosts.md).
A node records the host it was placed on in `cluster_nodes.host_name`.
"""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata

hosts = sa.Table(
    "hosts",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    # Its Docker Engine API (Podman's service): tcp://addr:port, http://…, unix:///path. NULL: the
    # container runtime of the process itself (the local machine's default entry).
    sa.Column("endpoint", sa.String(500)),
    # Where other hosts reach what runs on it (Spark masters and workers listen on it).
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("cores", sa.Integer, nullable=False),
    sa.Column("mem", sa.Integer, nullable=False),  # MB
    sa.Column("state", sa.String(20), nullable=False),  # active | draining (the admin's word)
    # unknown | up | down: down once every check has failed since `failing_since` for a while
    sa.Column("health", sa.String(20), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("checked_at", sa.Float),
    sa.Column("failing_since", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("state IN ('active', 'draining')", name="ck_hosts_state"),
    sa.CheckConstraint("health IN ('unknown', 'up', 'down')", name="ck_hosts_health"),
)
