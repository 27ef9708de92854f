"""All of Stoker's configuration, in one typed object read once from the environment (`STOKER_*`)
and the command line, then passed around explicitly. `stoker config` prints every setting with its
variable and value (secrets hidden).

Nothing here is global: `Settings.from_env()` builds a value; callers hand it to what needs it.
The cluster duties and the run-event sinks take their part of it as plain values
(`settings.clusters`, `settings.sinks`).

Not here, on purpose: the variables one Stoker process sets for a child it starts (a worker child's
`STOKER_URL`/`STOKER_DOCKER_HOST`, a Spark driver's `SPARK_LOCAL_IP`/`PYSPARK_PYTHON`) are a
protocol between the two processes, and the child reads them back through this same object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psutil
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stoker.core.errors import InvalidInput
from stoker.core.limits import DEFAULT_LEASE_SECONDS
from stoker.core.spark_conf import ConfRules, redact

MEMORY_RESERVE_MB = 2048  # left to Stoker itself, its drivers and the system
CORE_OVERCOMMIT = 4  # a node's cores are a limit, not a reservation


def _words(value: Any) -> Any:
    """`a b`, `a,b` or a list: the words (scopes, registries)."""
    return tuple(value.replace(",", " ").split()) if isinstance(value, str) else value


def _paths(value: Any) -> Any:
    return tuple(Path(p) for p in value.split(os.pathsep) if p) if isinstance(value, str) else value


class Settings(BaseSettings):
    """Every field is read from `STOKER_<FIELD>` unless its `validation_alias` names another
    variable; an empty variable counts as unset. Keyword arguments (the command line's options,
    tests) win over the environment."""

    model_config = SettingsConfigDict(env_prefix="STOKER_", env_ignore_empty=True, frozen=True,
                                      extra="ignore", populate_by_name=True)

    # -- where things live --------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="where SQLite, files and keys live")
    database_url: str | None = Field(None, description="SQLAlchemy URL (postgresql+psycopg://…); "
                                                       "default: SQLite in the data dir")
    storage_roots: Annotated[tuple[Path, ...], NoDecode] = Field(
        (), description=f"extra file roots besides <data dir>/files ({os.pathsep}-separated)")
    api_url: str = Field("http://127.0.0.1:8000", validation_alias="STOKER_URL",
                         description="this Stoker's base URL: where the Spark apps it starts send their "
                                     "listener events, and where the client commands go")
    # -- security -----------------------------------------------------------------------------
    admin_token: SecretStr | None = Field(None, description="an admin token to register at start "
                                                            "(else the first start prints one)")
    secret_key: SecretStr | None = Field(None, description="Fernet key for secrets at rest; default: "
                                                           "a key file in the data dir")
    token: SecretStr | None = Field(None, description="client side: the API token the `stoker` client "
                                                      "commands send")
    # Scopes granted to requests that carry no token at all (default: none). Opt-in, for legacy
    # clients of the seed APIs on a trusted network (e.g. "submit read"); a wrong token is still 401.
    anonymous_scopes: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="scopes of requests without a token (e.g. 'submit read'); default none")
    # -- teams, the audit log, sign-in for people (docs/teams.md) -----------------------------
    audit_retention_days: float = Field(365.0, description="audit entries older than this are deleted; "
                                                           "0 keeps them")
    oidc_issuer: str | None = Field(None, description="OpenID Connect provider of the UI's sign-in "
                                                      "(its issuer URL); unset: token sign-in only")
    oidc_client_id: str = Field("stoker", description="this Stoker's client id at the provider")
    oidc_client_secret: SecretStr | None = Field(None, description="its client secret (none: a public "
                                                                   "client, PKCE alone)")
    oidc_scopes: str = Field("openid profile email groups", description="scopes asked of the provider")
    oidc_groups_claim: str = Field("groups", description="the ID token's (or user info's) claim that lists "
                                                         "the person's groups")
    oidc_groups: str = Field("", description="provider groups → teams: 'group=team:role, …'; "
                                             "'group=*:admin' makes server admins")
    # -- runs, leases, workers ----------------------------------------------------------------
    lease_seconds: float = Field(DEFAULT_LEASE_SECONDS, description="an attempt's lease without a heartbeat")
    heartbeat_seconds: float = Field(5.0, description="how often a worker renews its attempts' leases")
    reap_interval_seconds: float = Field(2.0, description="how often expired leases are reaped")
    worker_concurrency: int = Field(1, description="attempts a worker runs at once")
    container_concurrency: int = Field(4, description="container attempts a worker runs at once, besides "
                                                      "its Spark attempts")
    result_max_rows: int = Field(10_000, description="rows a run's result keeps")
    result_max_bytes: int = Field(10 * 1024 * 1024, description="bytes a run's result keeps")
    # -- Spark --------------------------------------------------------------------------------
    spark_master: str = Field("local[*]", description="the Spark master of runs without a cluster")
    spark_jars: str | None = Field(None, description="extra jars for Spark (comma-separated paths), e.g. "
                                                     "hadoop-aws and the AWS SDK bundle (docs/s3.md)")
    # Spark configuration (docs/spark-conf.md): the server's layer, and what jobs and runs may set.
    spark_conf_defaults: dict[str, str] = Field(
        default_factory=dict, description="the server's Spark settings, under every run's cluster, job and run "
        "settings (a JSON object); not checked against the allow-list: the operator's own")
    spark_conf_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="widen: keys (glob patterns, e.g. spark.hadoop.fs.s3a.connection.maximum) jobs and runs "
        "may set besides the built-in list, even ones it refuses. RISK: a key that names a class, jar, file, "
        "script or address lets a job's author run code on the workers or reach their network")
    spark_conf_deny: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="narrow: keys (glob patterns, e.g. spark.executor.* spark.sql.ansi.enabled) jobs and "
        "runs may not set, whatever else allows them")
    spark_conf_max_keys: int = Field(64, ge=1, description="settings one job's or run's conf may hold")
    spark_conf_max_value_chars: int = Field(1000, ge=1, description="the longest value of a setting in a "
                                                                    "job's or run's conf")
    # A Spark app heard from last this long ago, with no ApplicationEnd, is marked ended
    # ("heartbeat timeout"): its driver died. Listeners send a heartbeat every 10 s.
    spark_app_silence_seconds: float = Field(60.0, description="a Spark app silent this long is ended")
    tuning_interval_seconds: float = Field(3.0, gt=0, description="how often the tuning loop reads tuned jobs' "
                                           "finished runs (docs/tuning.md)")
    # Helper processes that check Spark event payloads (events/checking.py); None: one when the
    # machine has two cores or more, else none (0: check them in the server's own process).
    ingest_processes: int | None = Field(None, description="helper processes checking event payloads; "
                                                           "default: 1 with two cores or more, else 0")
    malloc_tuning: bool = Field(True, description="keep freed memory between event payloads (glibc); "
                                                  "0 turns it off (events/memory.py)")
    # -- containers ---------------------------------------------------------------------------
    docker_host: str | None = Field(None, description="Docker Engine API of container jobs (unix://…, "
                                                      "tcp://…); default: a private Podman service")
    allowed_registries: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="registries images may come from (e.g. 'localhost 127.0.0.1:5000'); default any")
    # -- S3 (docs/s3.md) ----------------------------------------------------------------------
    # Runs bring their own keys in options.s3; the server's own credentials (the AWS environment and
    # config files, and this endpoint) apply only when the operator allows it.
    s3_allow_server_credentials: bool = Field(False, description="let runs use the server's AWS credentials")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint for the server's credentials")
    s3_max_run_bytes: int = Field(10 * 1024**3, description="what one run may stage (read plus written)")
    s3_way: Literal["auto", "staged", "executors"] = Field(
        "auto", description="how S3 runs without s3a move bytes: auto (staged on a local[...] master, "
                            "through the executors on a cluster), or always one way (docs/s3.md)")
    # -- files API (docs/files.md) ------------------------------------------------------------
    files_max_bytes: int = Field(10 * 1024**3, description="the largest file one upload may write")
    files_max_dir_entries: int = Field(100_000, description="entries a directory may hold before an upload "
                                                            "adding one is refused")
    files_max_archive_files: int = Field(100_000, description="files one directory archive may carry")
    files_preview_max_bytes: int = Field(8 * 1024 * 1024, description="bytes one preview reads at most")
    # -- clusters (docs/clusters.md) ----------------------------------------------------------
    cluster_capacity: str | None = Field(None, description="the local host's capacity (docs/hosts.md), "
                                                           "'cores=8,mem=8192' (MB); default: this host's")
    local_host: bool = Field(True, description="register this machine as the container host `local` at "
                                               "start (false on a deployment whose nodes run on other hosts)")
    cluster_launch_timeout_seconds: float = Field(120.0, description="start of the processes → every "
                                                                     "worker ALIVE")
    cluster_reconcile_seconds: float = Field(2.0, description="how often recorded nodes are compared "
                                                              "with reality")
    cluster_lease_seconds: float = Field(15.0, description="the cluster duties' leader lease")
    host_down_after_seconds: float = Field(10.0, description="a host whose container API has failed every "
                                                             "check for this long is down (its nodes lost)")
    # -- run-event sinks (docs/events-and-sinks.md) -------------------------------------------
    nats_url: str | None = Field(None, description="NATS server of the JetStream sink; unset: off")
    nats_stream: str = Field("STOKER_RUNS", description="the JetStream stream")
    nats_subject_prefix: str = Field("stoker.runs", description="run events go to <prefix>.<event>")
    nats_cluster_subject_prefix: str | None = Field(None, description="cluster events' prefix; default: "
                                                                      "the run prefix's sibling")
    webhooks: bool = Field(True, description="deliver run events to registered webhooks")
    sink_retry_base_seconds: float = Field(0.5, description="first retry delay of a failing sink")
    sink_retry_max_seconds: float = Field(60.0, description="longest retry delay of a failing sink")
    sink_lease_seconds: float = Field(30.0, description="how long a publisher owns a sink without renewing")
    sink_poll_seconds: float = Field(1.0, description="fallback poll for events of other processes")
    sink_refresh_seconds: float = Field(2.0, description="how soon a new or deleted webhook is noticed")
    outbox_retention_hours: float = Field(7 * 24.0, description="outbox events older than this are "
                                                                "pruned; 0 keeps them")
    # -- job notifications (docs/notifications.md) ---------------------------------------------
    notifications: bool = Field(True, description="send job notifications from this process (0: others do)")
    smtp_host: str | None = Field(None, description="the SMTP server of e-mail notifications")
    smtp_port: int = Field(25, description="its port")
    smtp_user: str | None = Field(None, description="log in to it as this user")
    smtp_password: SecretStr | None = Field(None, description="with this password")
    smtp_from: str = Field("stoker@localhost", description="the From of notification e-mails")
    smtp_starttls: bool = Field(False, description="STARTTLS on a plain SMTP port")
    smtp_ssl: bool = Field(False, description="TLS from the start (port 465)")
    public_url: str | None = Field(None, description="the base of links in notifications; default: STOKER_URL")
    notify_lease_seconds: float = Field(60.0, description="how long a claimed notification is held by "
                                                          "the process sending it")
    notify_retry_base_seconds: float = Field(2.0, description="first retry delay of a notification")
    notify_retry_max_seconds: float = Field(600.0, description="longest retry delay of a notification")
    notify_max_tries: int = Field(12, description="tries before a notification is given up")
    slow_check_seconds: float = Field(5.0, description="how often RUNNING attempts are checked for `slow`")
    # -- this process -------------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or one JSON "
                                                                    "object per line")

    @field_validator("anonymous_scopes", "allowed_registries", "spark_conf_allow", "spark_conf_deny",
                     mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        return _words(value)

    @field_validator("storage_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        return _paths(value)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The environment, with the given keyword arguments on top (None: not given)."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})

    def replace(self, **changes: Any) -> Settings:
        """A copy with these fields changed (validated as from the environment)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    @property
    def storage_root(self) -> Path:
        return (self.data_dir / "files").resolve()

    @property
    def spark_conf(self) -> dict[str, str]:
        """Server-wide Spark configuration (the `server` layer of a run's conf)."""
        jars = {"spark.jars": self.spark_jars} if self.spark_jars else {}
        return {**self.spark_conf_defaults, **jars}

    @property
    def conf_rules(self) -> ConfRules:
        """What jobs and runs may set (core/spark_conf.py), with this server's widening and narrowing."""
        return ConfRules(allow=self.spark_conf_allow, deny=self.spark_conf_deny,
                         max_keys=self.spark_conf_max_keys, max_value_chars=self.spark_conf_max_value_chars)

    @property
    def clusters(self) -> ClusterSettings:
        return ClusterSettings(
            capacity=Capacity.parse(self.cluster_capacity) if self.cluster_capacity else Capacity.of_this_host(),
            launch_timeout_seconds=self.cluster_launch_timeout_seconds,
            reconcile_seconds=self.cluster_reconcile_seconds, lease_seconds=self.cluster_lease_seconds,
            host_down_after_seconds=self.host_down_after_seconds)

    @property
    def sinks(self) -> SinkSettings:
        return SinkSettings(
            nats_url=self.nats_url, nats_stream=self.nats_stream, nats_subject_prefix=self.nats_subject_prefix,
            nats_cluster_subject_prefix=self.nats_cluster_subject_prefix, webhooks=self.webhooks,
            retry_base_seconds=self.sink_retry_base_seconds, retry_max_seconds=self.sink_retry_max_seconds,
            lease_seconds=self.sink_lease_seconds, poll_seconds=self.sink_poll_seconds,
            refresh_seconds=self.sink_refresh_seconds,
            outbox_retention_seconds=self.outbox_retention_hours * 3600,
            notifications=self.notifications, smtp_host=self.smtp_host, smtp_port=self.smtp_port,
            smtp_user=self.smtp_user, smtp_password=secret(self.smtp_password), smtp_from=self.smtp_from,
            smtp_starttls=self.smtp_starttls, smtp_ssl=self.smtp_ssl, public_url=self.public_url,
            notify_lease_seconds=self.notify_lease_seconds, notify_retry_base_seconds=self.notify_retry_base_seconds,
            notify_retry_max_seconds=self.notify_retry_max_seconds, notify_max_tries=self.notify_max_tries,
            slow_check_seconds=self.slow_check_seconds)

    def resolved_ingest_processes(self) -> int:
        if self.ingest_processes is not None:
            return max(0, self.ingest_processes)
        return 1 if (os.cpu_count() or 1) >= 2 else 0

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stoker.db').resolve()}"

    def described(self) -> list[tuple[str, str, str, str]]:
        """(field, variable, value as shown, description) of every setting; secrets hidden."""
        rows = []
        for name, info in type(self).model_fields.items():
            variable = info.validation_alias if isinstance(info.validation_alias, str) else f"STOKER_{name.upper()}"
            rows.append((name, variable, _shown(name, getattr(self, name)), info.description or ""))
        return rows


def _shown(name: str, value: Any) -> str:
    if isinstance(value, SecretStr):
        return "********"
    if value is None:
        return "(unset)"
    if isinstance(value, str) and name in ("database_url", "nats_url"):
        return _without_password(value)
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return " ".join(f"{k}={redact(k, str(v))}" for k, v in value.items()) or "(none)"
    return str(value)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:********@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def secret(value: SecretStr | None) -> str | None:
    """A secret setting's value, where it is needed (never for display)."""
    return value.get_secret_value() if value is not None else None


# -- the cluster duties' part --------------------------------------------------------------------
@dataclass(frozen=True)
class Capacity:
    cores: int
    mem: int  # MB

    @classmethod
    def of_this_host(cls) -> Capacity:
        total_mb = psutil.virtual_memory().total // (1024 * 1024)
        return cls(cores=(os.cpu_count() or 1) * CORE_OVERCOMMIT, mem=max(0, total_mb - MEMORY_RESERVE_MB))

    @classmethod
    def parse(cls, text: str) -> Capacity:
        """`cores=8,mem=8192` (mem in MB); a missing part keeps this host's figure."""
        host = cls.of_this_host()
        values = {"cores": host.cores, "mem": host.mem}
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            key, _, raw = part.partition("=")
            if key not in values or not raw.isdigit():
                raise InvalidInput(f"STOKER_CLUSTER_CAPACITY: {part!r} is not cores=N or mem=MB")
            values[key] = int(raw)
        return cls(**values)


@dataclass(frozen=True)
class ClusterSettings:
    capacity: Capacity
    launch_timeout_seconds: float = 120.0  # start of the processes → every worker ALIVE
    reconcile_seconds: float = 2.0  # how often recorded nodes are compared with reality
    # The leader lease of the cluster duties (one replica runs them): renewed every third of this;
    # another replica takes over this long after the holder died.
    lease_seconds: float = 15.0
    # A host is down once its container API has failed every check for this long: one slow answer
    # on a busy machine must not lose its nodes.
    host_down_after_seconds: float = 10.0


# -- the publisher's and its sinks' part ---------------------------------------------------------
@dataclass(frozen=True)
class SinkSettings:
    nats_url: str | None = None  # STOKER_NATS_URL; unset: the NATS sink is off
    nats_stream: str = "STOKER_RUNS"
    nats_subject_prefix: str = "stoker.runs"  # events go to <prefix>.<event>
    # cluster.<status> goes to <prefix>.<status>; None: the run prefix's sibling (stoker.runs → stoker.clusters)
    nats_cluster_subject_prefix: str | None = None
    nats_timeout_seconds: float = 5.0  # connect and publish-ack timeout
    webhooks: bool = True
    webhook_timeout_seconds: float = 10.0  # must stay well below lease_seconds (see store/sink_cursors.py)
    # A failing sink retries after base * 2^(failures-1), capped; the delay never holds up a run.
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 60.0
    lease_seconds: float = 30.0  # how long a publisher owns a sink without renewing
    poll_seconds: float = 1.0  # fallback poll for events written by other processes
    refresh_seconds: float = 2.0  # how soon a new or deleted webhook is noticed
    batch_size: int = 500
    # Outbox events older than this are pruned (store/retention.py); 0 keeps them forever.
    outbox_retention_seconds: float = 7 * 24 * 3600.0
    prune_every_seconds: float = 60.0
    # Job notifications (sinks/notifications.py, docs/notifications.md).
    notifications: bool = True
    smtp_host: str | None = None  # e-mail destinations need it
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "stoker@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    notify_timeout_seconds: float = 10.0
    notify_lease_seconds: float = 60.0  # a publisher that died mid-send is replaced after this
    notify_retry_base_seconds: float = 2.0
    notify_retry_max_seconds: float = 600.0
    notify_max_tries: int = 12  # then the delivery is `failed` for good (about an hour of tries)
    slow_check_seconds: float = 5.0
    public_url: str | None = None  # the links in messages (default: the server's STOKER_URL)

    def notify_retry_delay(self, tries: int) -> float | None:
        """When a notification that failed `tries` times is tried again; None: it is given up."""
        if tries >= self.notify_max_tries:
            return None
        return min(self.notify_retry_max_seconds, self.notify_retry_base_seconds * 2.0 ** min(tries - 1, 30))

    def cluster_subject_prefix(self) -> str:
        if self.nats_cluster_subject_prefix:
            return self.nats_cluster_subject_prefix
        base = self.nats_subject_prefix
        return (base.removesuffix(".runs") if base.endswith(".runs") else base) + ".clusters"

    def retry_delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.retry_max_seconds, self.retry_base_seconds * 2.0 ** min(failures - 1, 30))
