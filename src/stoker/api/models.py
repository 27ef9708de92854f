"""Request bodies of the native API (responses are plain JSON built in views.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from stoker.core import limits

# Free-form JSON (params, options, steps, results) within the limits of core/limits.py: a value
# the store could not keep (an integer past 64 bits, a lone surrogate) is refused here with a 422.
JsonObject = Annotated[dict[str, Any], AfterValidator(limits.check_json)]
JsonList = Annotated[list[Any], Field(max_length=limits.MAX_STEPS), AfterValidator(limits.check_json)]
JsonValue = Annotated[Any, AfterValidator(limits.check_json)]
Priority = Annotated[int, Field(ge=-limits.MAX_PRIORITY, le=limits.MAX_PRIORITY)]
CONF_EXAMPLE = {"spark.sql.shuffle.partitions": 8, "spark.sql.session.timeZone": "UTC"}


def conf_field(layer: str) -> Any:
    """`conf`: Spark settings, as spark-submit --conf, Livy's conf or Databricks' spark_conf take them."""
    return Field(
        None, examples=[CONF_EXAMPLE],
        description=f"Spark settings of {layer} (docs/spark-conf.md): key -> value; numbers and booleans are "
        "written as Spark expects. They override the server's and the cluster's settings"
        + (" and the job's" if layer != "the job" else "") + ". Only keys on the server's list: SQL "
        "settings, executor/driver resources, dynamic allocation, memory and shuffle tuning, parallelism, "
        "speculation, locality; a key naming a class, jar, file, script, executable, environment "
        "variable or address is refused (422 naming it), as is a value Spark could not parse. A warm "
        "session (mode session) changes only runtime SQL settings: others need mode submit.")


SparkConfMap = dict[str, str | int | float | bool]


class Body(BaseModel):
    """A request body: unknown fields refused, and types as declared, with no coercion (`false` is
    no integer, `"1"` no number), so the schema refuses exactly what the server does."""

    model_config = ConfigDict(extra="forbid", strict=True)

STEPS_EXAMPLE = [["read_csv", "people.csv", {"header": True, "inferSchema": True}],
                 ["filter", "age > 30"], ["group_by", ["city"], {"n": "count(*)"}], ["collect"]]


class Policy(Body):
    description: str | None = None
    mode: Literal["session", "submit"] | None = Field(
        None, description="session: a warm SparkSession per worker (fast); submit: one spark-submit "
                          "driver per attempt (isolated)")
    max_concurrent_runs: int | None = Field(None, ge=1, le=limits.MAX_CONCURRENT_RUNS,
                                            description="RUNNING runs allowed at once (default 1)")
    max_attempts: int | None = Field(None, ge=1, le=limits.MAX_ATTEMPTS,
                                     description="attempts before the run FAILS (default 3)")
    backoff: Literal["constant", "exponential"] | None = None
    backoff_seconds: float | None = Field(None, ge=0, le=86_400)
    timeout_seconds: float | None = Field(None, gt=0, le=limits.MAX_TIMEOUT_SECONDS,
                                          description="an attempt running longer is stopped: timed_out")
    auto_retry: StrictBool | None = Field(None, description="re-queue failed attempts automatically (default true); "
                                    "false: a failed run waits for POST /runs/{id}/retry")
    cluster: str | None = Field(None, max_length=36, description="run on this cluster (its id, see "
                                "/api/v1/clusters); a run option `cluster` overrides it")
    schedule: JsonObject | str | None = Field(
        None, description="run by itself (docs/schedules.md): {\"cron\": \"0 6 * * *\", \"timezone\": "
                          "\"Europe/Madrid\", \"overlap\": \"skip\" | \"queue\" | \"cancel_previous\", "
                          "\"catchup\": \"none\" | \"latest\" | \"all\", \"params\": {…}, \"end\": …, "
                          "\"paused\": false}, or a bare cron string; five cron fields (or six, seconds "
                          "first), @daily-style names, H for a stable per-job spread; null (PATCH) removes it",
        examples=[{"cron": "0 6 * * *", "timezone": "Europe/Madrid"}])
    options: JsonObject | None = Field(
        None, description="options every run starts from (a run's own override them key by key), so a run "
                          "with no body (a schedule's, a retry) has what it needs: references to named secrets "
                          "(docs/secrets.md), never their values: `{\"s3\": {\"secret\": \"warehouse\"}}`, "
                          "`{\"secret_env\": {\"secret\": \"app-env\"}}`; null (PATCH) removes them",
        examples=[{"s3": {"secret": "warehouse"}}])
    notifications: JsonObject | None = Field(
        None, description="who hears how runs end (docs/notifications.md): `on` (failure, success, retry, start, "
                          "slow), `slow_after_seconds` (default: 2× the job's median), `destinations`: "
                          "webhook (url + secret: signed JSON), chat (Slack-compatible incoming webhook: url or "
                          "secret), email (to: addresses; SMTP from the server's settings); null (PATCH) "
                          "removes them",
        examples=[{"on": ["failure"], "destinations": [{"kind": "email", "to": ["oncall@example.org"]}]}])
    conf: SparkConfMap | None = conf_field("the job")
    tuning: JsonObject | None = Field(
        None, description="the tuning loop (docs/tuning.md): `mode` off (default: nothing changes) | advise "
                          "(recommend, apply nothing) | auto (apply to the next runs, measure, keep or roll back); "
                          "`objective` core_seconds (default) | duration; `max_slowdown` (default 0.10: a change "
                          "making a run more than 10% slower than the baseline's median is rolled back); `allow`: "
                          "keys of the job's own conf tuning may override (by default the job's conf wins)",
        examples=[{"mode": "auto", "objective": "core_seconds", "max_slowdown": 0.1}])


class JobCreate(Policy):
    name: str = Field(..., min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: Literal["pipeline", "container"] = Field(
        "pipeline", description="pipeline: `steps` on Spark; container: `image` + `command` in a container")
    steps: JsonList | None = Field(None, description="the pipeline; strings may hold {{param}} placeholders",
                                   examples=[STEPS_EXAMPLE])
    image: str | None = Field(None, max_length=500, description="container jobs: the image to run "
                              "(imported when the job is created)", examples=["localhost/stoker/busybox:latest"])
    command: str | list[str] | None = Field(None, description="container jobs: the command (a string is "
                                            "split as a shell would); may hold {{param}} placeholders")
    env: dict[str, str | int | float | bool] | None = Field(None, description="container jobs: environment "
                                                            "variables; values may hold {{param}} placeholders")
    memory_mb: int | None = Field(None, description="container jobs: memory limit (no extra swap)")
    cpus: float | None = Field(None, description="container jobs: CPU limit")
    pids: int | None = Field(None, description="container jobs: process limit")
    network: str | None = Field(None, description="container jobs: none (default), host or bridge")


CONTAINER_FIELDS = ("image", "command", "env", "memory_mb", "cpus", "pids", "network")


class JobUpdate(Policy):
    steps: JsonList | None = None


class RunCreate(Body):
    steps: JsonList | None = Field(None, description="an ad-hoc pipeline (omit when `job` is given)",
                                    examples=[STEPS_EXAMPLE])
    job: str | None = Field(None, description="run this job's steps instead (name or id)")
    params: JsonObject = Field(default_factory=dict, description="values for the job's {{placeholders}}")
    options: JsonObject = Field(default_factory=dict,
                                description="run options (over the job's own); `s3` holds a pipeline's S3 "
                                            "credentials, `secret_env` a container run's secret environment "
                                            "variables (both encrypted at rest, never shown back), or either "
                                            "names a secret: `{\"s3\": {\"secret\": \"warehouse\"}}` "
                                            "(resolved when an attempt starts; docs/secrets.md)")
    idempotency_key: str | None = Field(None, max_length=200, description="resubmitting with the same key "
                                        "returns the same run (also the Idempotency-Key header)")
    priority: Priority = 0
    conf: SparkConfMap | None = conf_field("this run")


class JobRunCreate(Body):
    params: JsonObject = Field(default_factory=dict)
    container: JsonObject = Field(default_factory=dict, description="container jobs: this run's overrides "
                                  "of command, env, timeout_seconds, memory_mb, cpus, pids, network")
    options: JsonObject = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, max_length=200)
    priority: Priority = 0
    conf: SparkConfMap | None = conf_field("this run")


class Backfill(Body):
    start: str = Field(..., description="the first tick's earliest time (ISO 8601; no zone: the schedule's)",
                       examples=["2026-11-01T00:00:00Z"])
    end: str = Field(..., description="the last tick's latest time, inclusive (ISO 8601)",
                     examples=["2026-11-07T23:59:59Z"])
    dry_run: StrictBool = Field(False, description="list the ticks, queue nothing")


class BatchCreate(Body):
    job: str | None = None
    steps: JsonList | None = None
    count: int | None = Field(None, ge=1, le=limits.MAX_BATCH_RUNS,
                              description="N identical runs (Stevedore's run N times)")
    params_list: list[JsonObject] | None = Field(None, max_length=limits.MAX_BATCH_RUNS,
                                                     description="one run per parameter set")
    options: JsonObject = Field(default_factory=dict)
    conf: SparkConfMap | None = conf_field("each run of the batch")


class Claim(Body):
    worker_id: str = Field(..., min_length=1, max_length=200)
    limit: int = Field(1, ge=1, le=1000)
    lanes: dict[Literal["instant", "spark", "container"], Annotated[int, Field(ge=0, le=1000)]] | None = Field(
        None, description="instead of `limit`: how many attempts of each lane to take "
                          "(e.g. {\"instant\": 1000, \"spark\": 2}); instant runs need no Spark")
    wait_seconds: float = Field(0, ge=0, le=limits.MAX_WAIT_SECONDS, description="long-poll: wait this long for work")
    lease_seconds: float | None = Field(None, ge=limits.MIN_LEASE_SECONDS, le=limits.MAX_LEASE_SECONDS,
                                        description="default: the server's STOKER_LEASE_SECONDS")
    own_runtime: bool = Field(True, description="whether the worker has a container runtime of its own; "
                                                "without one it gets only container runs placed on a "
                                                "registered host (docs/hosts.md)")


class Heartbeat(Body):
    lease_seconds: float | None = Field(None, ge=limits.MIN_LEASE_SECONDS, le=limits.MAX_LEASE_SECONDS,
                                        description="default: the server's STOKER_LEASE_SECONDS")


class Finish(Body):
    outcome: Literal["succeeded", "failed", "timed_out", "cancelled"]
    result: JsonValue = None
    error: str | None = Field(None, max_length=100_000)
    log: str | None = Field(None, max_length=5_000_000)
    permanent: StrictBool = Field(False, description="a failure a retry cannot fix: the run fails now, "
                                               "keeping its remaining attempts for a manual retry")


class FinishOne(Finish):
    attempt_id: str = Field(..., min_length=1, max_length=64)


class FinishMany(Body):
    endings: list[FinishOne] = Field(..., min_length=1, max_length=1000)


class Annotate(Body):
    spark_app_id: str | None = Field(None, max_length=200)
    spark_job_group: str | None = Field(None, max_length=200)
    executor: str | None = Field(None, max_length=40)
    conf: dict[str, dict[str, str]] | None = Field(
        None, max_length=1000, description="the effective Spark configuration the attempt runs with: "
                                           "key -> {\"value\", \"source\"} (values Spark redacts, redacted)")
