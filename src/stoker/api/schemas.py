"""Schemas the server and the Python client (`stoker.client`) share: request bodies of secrets and
webhooks, and the answers of the Spark events routes. Pure pydantic (like models.py), so the client
imports them without FastAPI or the server's dependencies (the runs and jobs bodies are models.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from stoker.api.models import Body

# --- secrets (api/secrets.py) ---------------------------------------------------------------------

VALUES_DESCRIPTION = (
    "the secret's values, key → string; write-only (never shown back). s3: aws_access_key_id and "
    "aws_secret_access_key (required), aws_session_token, region, endpoint_url; env: environment "
    "variable names; generic: any keys")


class SecretCreate(Body):
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="how jobs and runs name it", examples=["warehouse"])
    kind: Literal["s3", "env", "generic"] = Field(
        ..., description="s3: S3 credentials (`options.s3: {\"secret\": name}`); env: a container's secret "
                         "environment (`options.secret_env`); generic: values for `{{secrets/name/key}}` in steps "
                         "and for notification destinations")
    values: dict[str, str] = Field(..., description=VALUES_DESCRIPTION,
                                   examples=[{"aws_access_key_id": "AKIA…", "aws_secret_access_key": "…"}])
    description: str = Field("", max_length=1000)


class SecretUpdate(Body):
    values: dict[str, str] | None = Field(None, description="new values, replacing the old ones whole; the "
                                          "next attempt of every run that names the secret uses them")
    description: str | None = Field(None, max_length=1000)


# --- webhooks (api/webhooks.py) -------------------------------------------------------------------

class WebhookCreate(Body):
    url: str = Field(description="absolute http(s) URL that receives one POST per event")
    events: list[str] | None = Field(None, description="event names to send (default: all)")
    secret: str | None = Field(None, min_length=16, max_length=256,
                               description="HMAC key for X-Stoker-Signature (default: generated)")
    description: str = Field("", max_length=1000)


# --- Spark events (api/events.py): declared answers -----------------------------------------------

class CollectAck(BaseModel):
    status: str  # stored | duplicate | heartbeat
    events: int


class JobList(BaseModel):
    jobs: list[str]


class RunInfo(BaseModel):
    run_id: str
    first_seen_at: float
    last_seen_at: float
    event_count: int
    start_ms: int | None
    end_ms: int | None


class RunList(BaseModel):
    job_name: str
    runs: list[RunInfo]


class Duration(BaseModel):
    job_name: str
    run_id: str
    state: str  # ended | running | unknown (no application start seen)
    start: int | None
    end: int | None
    duration_ms: int | None
    elapsed_ms: int | None
    ended_by: str | None  # SparkListenerApplicationEnd, or "heartbeat timeout" (its driver fell silent)


class Summary(BaseModel):
    job_name: str
    run_id: str
    state: str
    app_name: str | None
    app_id: str | None
    spark_version: str | None
    start_ms: int | None
    end_ms: int | None
    events: int
    jobs: int
    failed_jobs: int
    stages: int
    failed_stages: int
    tasks: int
    failed_tasks: int
    killed_tasks: int
    executors_added: int
    executors_removed: int
    task_time_ms: int
    gc_time_ms: int
    shuffle_read_bytes: int
    shuffle_write_bytes: int
    spilled_bytes: int
    input_bytes: int
    input_records: int
    output_bytes: int
    output_records: int
    first_seen_at: float
    last_seen_at: float
    ended_by: str | None
