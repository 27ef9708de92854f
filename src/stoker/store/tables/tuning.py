"""The tuning loop (docs/tuning.md): each profiled run, each trial, and where each job stands per
input-size bucket. A job's policy is its `tuning` column (jobs)."""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata

# One per finished run of a tuned job whose events were read: its measured figures (`profile`:
# core_ms, cpu_ms, duration_ms, input_bytes …) and findings, the input-size bucket it belongs to, and
# the trial whose settings it ran with (NULL: the job as written, a baseline run).
tuning_runs = sa.Table(
    "tuning_runs",
    metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("bucket", sa.Integer),
    sa.Column("trial_id", sa.String(36)),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Column("analysed_at", sa.Float, nullable=False),
)
sa.Index("ix_tuning_runs_job", tuning_runs.c.job_id, tuning_runs.c.finished_at)

# One per recommendation: the settings it changes (`conf`, the tuning layer; `before`, what the
# baseline ran with for those keys), the findings it rests on, its prediction, and once judged the
# measured figures and the verdict. status: advised (mode advise: nothing applied) | trial (applied,
# being measured) | kept | rolled_back.
tuning_trials = sa.Table(
    "tuning_trials",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("bucket", sa.Integer),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("conf", sa.JSON, nullable=False),
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
    sa.Column("prediction", sa.JSON, nullable=False),
    sa.Column("measured", sa.JSON),
    sa.Column("verdict", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("decided_at", sa.Float),
    sa.UniqueConstraint("job_id", "number", name="uq_tuning_trials_job_number"),
)

# Where a job stands for one input-size bucket (bucket -1: inputs of unknown size): the layer its
# next runs get (`layer`, {} while measuring the baseline), the trial being measured, the settings
# rolled back there (never tried again for that bucket), and the exploratory runs used.
tuning_state = sa.Table(
    "tuning_state",
    metadata,
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("phase", sa.String(20), nullable=False),  # baseline | trial | tuned | settled
    sa.Column("trial_id", sa.String(36)),
    sa.Column("layer", sa.JSON, nullable=False),
    sa.Column("rejected", sa.JSON, nullable=False),
    sa.Column("exploratory_runs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.Float, nullable=False),
)
