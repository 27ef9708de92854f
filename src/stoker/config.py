"""Settings: read once from the environment and the command line, then passed around explicitly.

Nothing here is global: `Settings.from_env()` builds a value; callers hand it to what needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from stoker.core.limits import DEFAULT_LEASE_SECONDS


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None  # default: SQLite in data_dir
    spark_master: str = "local[*]"
    storage_roots: tuple[Path, ...] = ()  # extra roots besides data_dir/files
    admin_token: str | None = None
    secret_key: str | None = None  # Fernet key for secrets at rest; default: a key file in data_dir
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    heartbeat_seconds: float = 5.0
    reap_interval_seconds: float = 2.0
    worker_concurrency: int = 1
    result_max_rows: int = 10_000
    result_max_bytes: int = 10 * 1024 * 1024
    spark_conf: dict[str, str] = field(default_factory=dict)
    # Scopes granted to requests that carry no token at all (default: none). Opt-in, for legacy
    # clients of the seed APIs on a trusted network (e.g. "submit read"); a wrong token is still 401.
    anonymous_scopes: tuple[str, ...] = ()
    # Where Spark apps started by workers send their listener events (this Stoker's base URL).
    api_url: str = "http://127.0.0.1:8000"
    # Helper processes that check Spark event payloads (events/checking.py); None: one when the
    # machine has two cores or more, else none (0: check them in the server's own process).
    ingest_processes: int | None = None
    # A Spark app heard from last this long ago, with no ApplicationEnd, is marked ended
    # ("heartbeat timeout"): its driver died. Listeners send a heartbeat every 10 s.
    spark_app_silence_seconds: float = 60.0
    # The Docker Engine API of container jobs (unix:///…sock, tcp://…); None: `stoker serve` starts
    # a private Podman API service.
    docker_host: str | None = None
    # Container attempts a worker runs at once, besides (never instead of) its Spark attempts.
    container_concurrency: int = 4
    # Registries container images may come from (e.g. "localhost 127.0.0.1:5000"); empty: any.
    allowed_registries: tuple[str, ...] = ()
    # S3 (docs/s3.md): runs bring their own keys in options.s3; the server's own credentials (the
    # AWS environment and config files, and this endpoint) apply only when the operator allows it.
    s3_allow_server_credentials: bool = False
    s3_endpoint_url: str | None = None
    s3_max_run_bytes: int = 10 * 1024**3  # what one run may stage (read plus written), staged way
    # Files API (docs/files.md): one upload's size, entries of one directory an upload may add to,
    # files of one directory archive, bytes one preview reads.
    files_max_bytes: int = 10 * 1024**3
    files_max_dir_entries: int = 100_000
    files_max_archive_files: int = 100_000
    files_preview_max_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        roots = tuple(Path(p) for p in env.get("STOKER_STORAGE_ROOTS", "").split(os.pathsep) if p)
        base = cls(
            data_dir=Path(env.get("STOKER_DATA_DIR", "data")),
            database_url=env.get("STOKER_DATABASE_URL") or None,
            spark_master=env.get("STOKER_SPARK_MASTER", "local[*]"),
            storage_roots=roots,
            admin_token=env.get("STOKER_ADMIN_TOKEN") or None,
            secret_key=env.get("STOKER_SECRET_KEY") or None,
            lease_seconds=_env_float("STOKER_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
            heartbeat_seconds=_env_float("STOKER_HEARTBEAT_SECONDS", 5.0),
            reap_interval_seconds=_env_float("STOKER_REAP_INTERVAL_SECONDS", 2.0),
            worker_concurrency=_env_int("STOKER_WORKER_CONCURRENCY", 1),
            api_url=env.get("STOKER_URL", "http://127.0.0.1:8000"),
            anonymous_scopes=tuple(env.get("STOKER_ANONYMOUS_SCOPES", "").replace(",", " ").split()),
            spark_app_silence_seconds=_env_float("STOKER_SPARK_APP_SILENCE_SECONDS", 60.0),
            # Extra jars for Spark (comma-separated paths), e.g. hadoop-aws and the AWS SDK bundle
            # for the direct way to S3 (docs/s3.md).
            spark_conf={"spark.jars": env["STOKER_SPARK_JARS"]} if env.get("STOKER_SPARK_JARS") else {},
            s3_allow_server_credentials=env.get("STOKER_S3_ALLOW_SERVER_CREDENTIALS", "").lower()
            in ("1", "true", "yes"),
            s3_endpoint_url=env.get("STOKER_S3_ENDPOINT_URL") or None,
            s3_max_run_bytes=_env_int("STOKER_S3_MAX_RUN_BYTES", 10 * 1024**3),
            files_max_bytes=_env_int("STOKER_FILES_MAX_BYTES", 10 * 1024**3),
            files_max_dir_entries=_env_int("STOKER_FILES_MAX_DIR_ENTRIES", 100_000),
            files_max_archive_files=_env_int("STOKER_FILES_MAX_ARCHIVE_FILES", 100_000),
            files_preview_max_bytes=_env_int("STOKER_FILES_PREVIEW_MAX_BYTES", 8 * 1024 * 1024),
            ingest_processes=(int(env["STOKER_INGEST_PROCESSES"])
                              if env.get("STOKER_INGEST_PROCESSES") else None),
            docker_host=env.get("STOKER_DOCKER_HOST") or None,
            container_concurrency=_env_int("STOKER_CONTAINER_CONCURRENCY", 4),
            allowed_registries=tuple(env.get("STOKER_ALLOWED_REGISTRIES", "").replace(",", " ").split()),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in clean:
            clean["data_dir"] = Path(str(clean["data_dir"]))
        return replace(base, **clean)  # type: ignore[arg-type]

    @property
    def storage_root(self) -> Path:
        return (self.data_dir / "files").resolve()

    def resolved_ingest_processes(self) -> int:
        if self.ingest_processes is not None:
            return max(0, self.ingest_processes)
        return 1 if (os.cpu_count() or 1) >= 2 else 0

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stoker.db').resolve()}"
