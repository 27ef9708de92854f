"""The core tables: tokens, jobs, runs, attempts, dead letters, the outbox, settings, products,
clusters, their nodes and history, leases, UI sessions (the package docstring says more).

Times are float epoch seconds (UTC): one portable type for SQLite and PostgreSQL, cheap to compare in
the claim and reap queries.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def team_id() -> sa.Column[str]:
    """The team a row belongs to (tables/teams.py): rows of before teams are in the default team."""
    return sa.Column("team_id", sa.String(64), nullable=False, server_default="default")


tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),  # a description
    # The user it acts for: short and URL-safe (cluster URLs, owners); see store/tokens.py.
    sa.Column("user_name", sa.String(64), index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    team_id(),  # the team it acts in, for its user
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),  # unique in its team
    sa.Column("kind", sa.String(20), nullable=False),  # pipeline | container
    sa.Column("spec", sa.JSON, nullable=False),  # {"steps": [...]} or {"image": ..., "command": [...]}
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("mode", sa.String(20), nullable=False, server_default="session"),  # session | submit
    sa.Column("max_concurrent_runs", sa.Integer, nullable=False, server_default="1"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
    sa.Column("backoff", sa.String(20), nullable=False, server_default="exponential"),
    sa.Column("backoff_seconds", sa.Float, nullable=False, server_default="1"),
    sa.Column("timeout_seconds", sa.Float),
    # False: a failed attempt leaves the run FAILED (attempts permitting, a manual retry re-queues it).
    sa.Column("auto_retry", sa.Boolean, nullable=False, server_default=sa.true()),
    # Its runs execute on this cluster (an id of `clusters`; a run option `cluster` overrides it).
    sa.Column("cluster", sa.String(36)),
    # Options every run of the job starts from (a run's own options override them key by key): what
    # it needs to run unattended, such as references to named secrets (never their values).
    sa.Column("options", sa.JSON),
    # Who hears how its runs end (docs/notifications.md): {"on": [...], "destinations": [...], ...}.
    sa.Column("notifications", sa.JSON),
    # Its Spark settings (docs/spark-conf.md), checked when set: key -> value as Spark writes it.
    sa.Column("conf", sa.JSON),
    # Its tuning policy (docs/tuning.md): {"mode", "objective", "max_slowdown", "allow"}; NULL: off.
    sa.Column("tuning", sa.JSON),
    # The concurrency semaphore: changed only in the transactions that start or end an attempt,
    # with the job row locked, so it always equals the number of RUNNING runs of the job.
    sa.Column("running_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("running_count >= 0", name="ck_jobs_running_count_nonnegative"),
    sa.CheckConstraint("max_concurrent_runs >= 1", name="ck_jobs_max_concurrent_runs_positive"),
    team_id(),
    sa.UniqueConstraint("team_id", "name", name="uq_jobs_team_name"),
    sa.CheckConstraint("max_attempts >= 1", name="ck_jobs_max_attempts_positive"),
)

runs = sa.Table(
    "runs",
    metadata,
    # seq orders the queue (FIFO within a priority); id is the public identifier.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("batch_id", sa.String(36), index=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("lane", sa.String(20), nullable=False, server_default="spark"),  # instant | spark | container
    sa.Column("steps", sa.JSON),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),  # never holds secrets
    sa.Column("secrets", sa.Text),  # Fernet token of the run's secrets (e.g. options.s3)
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("available_at", sa.Float, nullable=False),
    sa.Column("queued_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.Text),
    # What started it (api | schedule | backfill | manual) and, for a tick, which one: the tick's
    # time and its data interval (the tick before, the tick), as the run's steps may use them.
    sa.Column("trigger", sa.String(20), nullable=False, server_default="api"),
    sa.Column("scheduled_for", sa.Float),
    sa.Column("interval_start", sa.Float),
    sa.Column("interval_end", sa.Float),
    # Spark settings (docs/spark-conf.md): the run's own layers, fixed at submit ({"job": {...},
    # "run": {...}}), and what its latest attempt ran with (key -> {"value", "source"}, redacted).
    sa.Column("conf", sa.JSON),
    sa.Column("effective_conf", sa.JSON),
    # Why a QUEUED container run waits: no registered host has room for it (docs/hosts.md); NULL
    # once it starts or when nothing holds it back.
    sa.Column("waiting", sa.Text),
    team_id(),  # its job's, copied so that queue and lists filter without a join
    sa.UniqueConstraint("job_id", "idempotency_key", name="uq_runs_job_idempotency_key"),
    sa.CheckConstraint(
        "state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')", name="ck_runs_state"
    ),
    sa.CheckConstraint("attempt_count <= max_attempts", name="ck_runs_attempts_bounded"),
)
sa.Index("ix_runs_claim", runs.c.state, runs.c.lane, runs.c.priority, runs.c.seq)
sa.Index("ix_runs_job_state", runs.c.job_id, runs.c.state, runs.c.seq)
sa.Index("ix_runs_team_seq", runs.c.team_id, runs.c.seq)  # a team's runs, newest first

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("worker_id", sa.String(200), nullable=False),
    sa.Column("executor", sa.String(40)),
    # NULL while the attempt holds its lease; then succeeded | failed | timed_out | lost | cancelled.
    sa.Column("outcome", sa.String(20)),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("lease_expires_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("result", sa.JSON),
    sa.Column("log", sa.Text),
    sa.Column("spark_app_id", sa.String(200)),
    sa.Column("spark_job_group", sa.String(200)),
    # The host a container attempt runs on (docs/hosts.md); its capacity is held while the attempt is.
    sa.Column("host_name", sa.String(63)),
    sa.UniqueConstraint("run_id", "number", name="uq_attempts_run_number"),
    sa.CheckConstraint(
        "outcome IS NULL OR outcome IN ('succeeded', 'failed', 'timed_out', 'lost', 'cancelled')",
        name="ck_attempts_outcome",
    ),
)
# One active attempt per run, held by the database itself.
sa.Index(
    "uq_attempts_one_active_per_run",
    attempts.c.run_id,
    unique=True,
    sqlite_where=attempts.c.outcome.is_(None),
    postgresql_where=attempts.c.outcome.is_(None),
)
sa.Index(
    "ix_attempts_active_host",
    attempts.c.host_name,
    sqlite_where=attempts.c.outcome.is_(None),
    postgresql_where=attempts.c.outcome.is_(None),
)
sa.Index(
    "ix_attempts_active_lease",
    attempts.c.lease_expires_at,
    sqlite_where=attempts.c.outcome.is_(None),
    postgresql_where=attempts.c.outcome.is_(None),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),  # exhausted | retry_refused
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # A seed API's identifiers of a refusal: the request the client knows (a Sate processing
    # request id) and the message as that API published it (Sate: the last execution).
    sa.Column("request_id", sa.String(200), index=True),
    sa.Column("seed_message", sa.JSON),
)

# Every state change writes one row here in the same transaction; publishers read it in order.
# Run events carry run_id and job_id; cluster events (`cluster.<status>`) carry neither (their
# payload names the cluster).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36)),
    sa.Column("job_id", sa.String(36)),
    sa.Column("event", sa.String(40), nullable=False),  # queued | running | succeeded | failed | ...
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    team_id(),  # whose event it is: streams and webhooks deliver it only in that team
)

settings_kv = sa.Table(
    "settings_kv",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# -- clusters (stoker.clusters): products, their instances, nodes and status history -----------

products = sa.Table(
    "products",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("version", sa.String(50), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("logo_url", sa.String(500)),
    sa.Column("template", sa.Text),  # Jinja2 text; rendered per launch
    sa.Column("template_format", sa.String(10), nullable=False, server_default="json"),  # json | yaml
    sa.Column("options", sa.JSON, nullable=False),  # {"required", "optional", "advanced", "descriptions"}
    sa.Column("orchestrator", sa.String(100)),  # NULL: chosen by the nodes (see clusters/service.py)
    sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

clusters = sa.Table(
    "clusters",
    metadata,
    # seq is the scheduler's FIFO order; id is the public identifier (and the launch's queue id).
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("product", sa.String(100), nullable=False),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),  # 1, 2, ... per owner, product and version
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text),  # why it waits, failed or is degraded
    sa.Column("size", sa.Integer),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("orchestrator", sa.String(100), nullable=False),
    sa.Column("needs_cores", sa.Integer, nullable=False),
    sa.Column("needs_mem", sa.Integer, nullable=False),
    sa.Column("master_url", sa.String(500)),
    sa.Column("web_url", sa.String(500)),
    # A repair asked for through any replica; the one running the cluster duties carries it out.
    sa.Column("repair_requested_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    team_id(),
    sa.ForeignKeyConstraint(["product", "version"], ["products.name", "products.version"]),
    sa.UniqueConstraint("owner", "product", "version", "number", name="uq_clusters_owner_number"),
    sa.CheckConstraint(
        "status IN ('registered', 'scheduling', 'scheduled', 'configuring', 'configured', 'ready', "
        "'degraded', 'failed', 'destroyed')", name="ck_clusters_status"),
)
sa.Index("ix_clusters_status", clusters.c.status, clusters.c.seq)

cluster_nodes = sa.Table(
    "cluster_nodes",
    metadata,
    sa.Column("cluster_id", sa.String(36), sa.ForeignKey("clusters.id"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("service", sa.String(100)),
    sa.Column("role", sa.String(40)),
    sa.Column("cpu", sa.Integer, nullable=False),
    sa.Column("mem", sa.Integer, nullable=False),
    sa.Column("host", sa.String(200)),  # the address it listens on
    sa.Column("host_name", sa.String(100)),  # the registered host it was placed on (store/hosts.py)
    sa.Column("port", sa.Integer),
    sa.Column("web_port", sa.Integer),
    # The process (and its process group): pid plus its start time, so a recycled pid is not taken
    # for the node after a reboot or a long downtime.
    sa.Column("pid", sa.Integer),
    sa.Column("pid_started_at", sa.Float),
    sa.Column("state", sa.String(20), nullable=False),  # planned | running | dead | stopped
    sa.Column("workdir", sa.String(1000)),
    sa.Column("updated_at", sa.Float, nullable=False),
)

cluster_history = sa.Table(
    "cluster_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cluster_id", sa.String(36), sa.ForeignKey("clusters.id"), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
)

# Duties that only one process may run at a time (the cluster duties: scheduler, reconciler,
# repairs) while several `stoker serve` replicas share the database: a lease taken by `holder` until
# `expires_at` (database time), renewed while held, taken over by another once it expires.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# Web UI sign-ins (stoker.store.ui_sessions): only the hash of the cookie's session id is stored.
ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(36), sa.ForeignKey("tokens.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
)
# The UI's reads with 100,000 runs stored: the last hour of finished runs by state (the overview's
# chart, from the index alone), and runs of a state newest first (the runs page's filter, the
# counts by state and the oldest queued run).
sa.Index("ix_runs_finished_state", runs.c.finished_at, runs.c.state)
sa.Index("ix_runs_state_seq", runs.c.state, runs.c.seq)
