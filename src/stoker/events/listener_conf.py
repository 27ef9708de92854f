"""Attaching the listener to a Spark application: the jar and the `--conf` settings it reads."""

from __future__ import annotations

from pathlib import Path

from stoker.core.hosts import api_urls

LISTENER_CLASS = "io.stoker.listener.StokerListener"
JAR_NAME = "stoker-listener.jar"


def listener_jar_path() -> Path:
    """Where set-up (`scripts/build_listener.sh`) puts the compiled listener."""
    return Path(__file__).resolve().parent / "listener" / JAR_NAME


def listener_conf(url: str, token: str, job_name: str, run_id: str | None = None, *,
                  existing: dict[str, str] | None = None, check_jar: bool = True,
                  token_file: Path | None = None) -> dict[str, str]:
    """Spark confs that make an application stream its events to Stoker at `url`.

    With `token_file` (a file holding `token`, readable by its owner only) the conf names the file
    instead of carrying the token: Spark passes confs on the driver's command line, which any local
    user can read with `ps`.

    `url` is Stoker's base URL (the listener posts to `<url>/collect`), or the base URLs of several
    API replicas separated by commas: a payload that cannot reach one goes to the next. `run_id`
    defaults, in the listener, to the application id. `existing` confs are merged: jars and
    listeners are appended to what is already there rather than replacing it.
    """
    jar = listener_jar_path()
    if check_jar and not jar.exists():
        raise FileNotFoundError(f"the Stoker listener jar is missing at {jar}: "
                                "run scripts/build_listener.sh (part of `make setup`)")
    existing = existing or {}
    conf = {
        "spark.jars": _append(existing.get("spark.jars"), str(jar)),
        "spark.extraListeners": _append(existing.get("spark.extraListeners"), LISTENER_CLASS),
        "spark.stoker.url": ",".join(api_urls(url)),
        "spark.stoker.jobName": job_name,
    }
    if token_file is not None:
        conf["spark.stoker.tokenFile"] = str(token_file)  # the token stays off command lines
    else:
        conf["spark.stoker.token"] = token
    if run_id:
        conf["spark.stoker.runId"] = run_id
    return conf


def _append(current: str | None, item: str) -> str:
    parts = [p for p in (current or "").split(",") if p]
    if item not in parts:
        parts.append(item)
    return ",".join(parts)
