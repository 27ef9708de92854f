"""The `stoker` command line."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from stoker import __version__
from stoker.cli.remote import JSON, TOKEN, URL, connect, emit_json
from stoker.config import Settings

DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        envvar="STOKER_DATA_DIR", help="where SQLite, files and keys live [default: ./data]")
# The client-side options (kept under these names for the modules that use them).
API_URL = URL
API_TOKEN = TOKEN


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    return Settings.from_env(data_dir=data_dir, **overrides)


def _tune_process(settings: Settings) -> None:
    """Process-wide settings of a server or worker, made at start (never at import).

    (A shorter GIL switch interval than the default 5 ms was tried for wake-up latency: it gained
    ~1 ms at the p50 and cost a third of the no-op throughput, so the default stays.)"""
    from stoker.events.memory import keep_freed_memory

    keep_freed_memory(settings.malloc_tuning)  # event ingest reuses its memory from payload to payload (see memory.py)


def _setup_logging(settings: Settings, level: str = "INFO") -> None:
    """Plain lines, or one JSON object per line with STOKER_LOG_FORMAT=json; either way each record
    made while serving a request carries that request's id (the X-Request-ID of its response)."""
    from asgi_correlation_id import CorrelationIdFilter

    handler = logging.StreamHandler()
    handler.addFilter(CorrelationIdFilter(default_value="-"))
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(correlation_id)s %(message)s",
                                           rename_fields={"correlation_id": "request_id", "levelname": "level",
                                                          "name": "logger", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # PySpark logs every failed query with its whole JVM stack; the attempt's own log keeps what matters.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _checked(build: Any, settings: Settings) -> Any:
    """Build a process's services; a master key that cannot open the database's secrets stops it
    now, with what to do, rather than failing runs later."""
    from stoker.core.secrets import MasterKeyError

    try:
        return build(settings)
    except MasterKeyError as exc:
        click.echo(f"stoker: {exc}", err=True)
        sys.exit(2)


def _require_java() -> None:
    if shutil.which("java") is None and not _java_home_ok():
        click.echo("stoker: Java 17 or newer is needed to run Spark; install it (e.g. "
                   "`apt-get install openjdk-17-jre-headless`) or set JAVA_HOME.", err=True)
        sys.exit(2)


def _java_home_ok() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return home is not None and Path(home, "bin", "java").exists()


@click.group()
@click.version_option(__version__, prog_name="stoker")
def main() -> None:
    """Stoker: data jobs as a service on Apache Spark."""


# -- server side ------------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@DATA_DIR
@click.option("--no-worker", is_flag=True, help="API only: run workers with `stoker worker`")
@click.option("--concurrency", type=int, default=None, help="attempts the embedded worker runs at once")
def serve(host: str, port: int, data_dir: Path | None, no_worker: bool, concurrency: int | None) -> None:
    """Start the API (and an embedded worker, by default)."""
    import uvicorn

    from stoker.app import Background, create_app
    from stoker.app.wiring import bootstrap_admin_token, build_services

    url_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    settings = _settings(data_dir, worker_concurrency=concurrency, api_url=f"http://{url_host}:{port}")
    _setup_logging(settings)
    _tune_process(settings)
    if not no_worker:
        _require_java()
    services = _checked(build_services, settings)
    token = bootstrap_admin_token(services)
    if token:
        click.echo("\n  First start: an admin token was created. It is shown only this once:\n\n"
                   f"    export STOKER_TOKEN={token}\n")
    # Container jobs: STOKER_DOCKER_HOST, or a private Podman API service stopped with the server.
    services.containers.start_private(services.settings.data_dir)
    services.images.resume()
    from stoker.containers.janitor import ContainerJanitor

    janitor = ContainerJanitor(services.container_jobs, services.containers,
                               hosts=services.clusters.hosts.answering_endpoints)
    janitor.start()
    podman_watchdog = services.containers.watchdog()
    podman_watchdog.start()
    if not services.containers.available:
        click.echo(f"  Container jobs are off: {services.containers.reason}")
    child = None
    if not no_worker and not services.db.is_sqlite:
        from stoker.worker.child import WorkerChild

        # PostgreSQL: the worker in its own process, with its own GIL (see worker/child.py).
        child = WorkerChild(services.settings.data_dir, api_url=services.settings.api_url,
                            concurrency=concurrency, docker_host=services.containers.docker_host)
    background = Background(services, embedded_worker=not no_worker and child is None,
                            warm_spark=True, worker_child=child)
    app = create_app(services, background=background)
    click.echo(f"  Stoker {__version__} on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    # A bounded graceful shutdown: open event streams (SSE) must not hold the process forever.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)
    from stoker.app.server import DrainingServer

    try:
        DrainingServer(config, background).run()
    finally:
        podman_watchdog.stop()
        janitor.stop()
        services.containers.stop()



@main.command()
@DATA_DIR
@click.option("--concurrency", type=int, default=None, help="attempts run at once")
@click.option("--worker-id", default=None)
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="stop when this process is gone (set by `stoker serve` for its worker)")
@click.option("--remote", "remote_url", default=None, metavar="URL",
              help="lease attempts from the Stoker API at URL instead of the database "
                   "(needs --token with the worker scope, and ingest for Spark events); several API "
                   "replicas: URL1,URL2 (the next is used when one cannot be reached)")
@API_TOKEN
@click.option("--podman", is_flag=True,
              help="run container runs on a private Podman API service (when STOKER_DOCKER_HOST is unset)")
def worker(data_dir: Path | None, concurrency: int | None, worker_id: str | None,
           parent_pid: int | None, remote_url: str | None, token: str | None, podman: bool) -> None:
    """Run a worker against the database in STOKER_DATABASE_URL (or the data dir's SQLite), or,
    with --remote, against a Stoker API over HTTP (no database credentials)."""
    settings = _settings(data_dir, worker_concurrency=concurrency)
    _setup_logging(settings)
    _tune_process(settings)
    _require_java()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from stoker.containers.runtime import ContainerRuntime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Container runs: on STOKER_DOCKER_HOST (a serve hands its own to its worker process), or with
    # --podman on a private Podman API service of this worker's own; otherwise none here.
    runtime = ContainerRuntime(settings.docker_host)
    if podman:
        runtime.start_private(settings.data_dir)
    if remote_url is not None:
        from stoker.worker.remote import remote_worker

        if not token:
            raise click.UsageError("--remote needs --token (or STOKER_TOKEN): a token with the worker scope")
        duty = remote_worker(settings, remote_url, token, worker_id=worker_id,
                             docker_host=runtime.docker_host)
        name = duty.worker_id
    else:
        from stoker.app import Background
        from stoker.app.wiring import build_services

        services = _checked(build_services, settings.replace(docker_host=runtime.docker_host))
        duty = Background(services, embedded_worker=True, worker_id=worker_id, cluster_duties=False,
                          schedules=False)
        name = duty.worker.worker_id  # type: ignore[union-attr]
    duty.start()
    if parent_pid is not None:
        from stoker.parent_watch import watch_parent

        watch_parent(parent_pid, stop.set)
    click.echo(f"worker {name} started" + (f", leasing from {remote_url}" if remote_url else ""))
    stop.wait()
    duty.stop()
    runtime.stop()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@DATA_DIR
def db_upgrade(data_dir: Path | None) -> None:
    """Apply all migrations (alembic upgrade head)."""
    from stoker.store.db import Database

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    Database(settings.resolved_database_url()).upgrade()
    click.echo("database is up to date")


@main.command("config")
@DATA_DIR
def config_command(data_dir: Path | None) -> None:
    """Print every setting: its value (secrets hidden), its variable, what it does."""
    for name, variable, value, description in _settings(data_dir).described():
        click.echo(f"{name:<32} {value:<40} {variable}")
        if description:
            click.echo(f"{'':<32} {description}")


@main.group()
def token() -> None:
    """API tokens (works on the database directly)."""


@token.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["admin", "submit", "read", "worker", "ingest"]))
@click.option("--user", default=None, help="the user it acts for, short and URL-safe (default: made from NAME); "
                                           "it names the user's clusters in URLs")
@click.option("--team", default="default", show_default=True, help="the team it acts in (stoker team create)")
@click.option("--role", default=None, type=click.Choice(["viewer", "runner", "editor", "owner"]),
              help="the user's role in the team (default: a member's is kept; a new member's follows the scopes)")
@DATA_DIR
def token_create(name: str, scopes: tuple[str, ...], user: str | None, team: str, role: str | None,
                 data_dir: Path | None) -> None:
    """Make a token; it is printed once and only its hash is kept. NAME describes it."""
    from stoker.app.wiring import build_services
    from stoker.core.errors import StokerError

    try:
        click.echo(build_services(_settings(data_dir)).tokens.create(name, list(scopes), user=user, team=team,
                                                                     role=role))
    except StokerError as exc:
        raise click.UsageError(exc.message) from None


@token.command("list")
@DATA_DIR
def token_list(data_dir: Path | None) -> None:
    from stoker.app.wiring import build_services

    for t in build_services(_settings(data_dir)).tokens.list():
        click.echo(f"{t['id']}  {t['user'] or '-':<16} {t['team']:<12} {t['name']:<30} {' '.join(t['scopes']):<30} "
                   f"{'revoked' if t['revoked'] else ''}")


@token.command("revoke")
@click.argument("token_id")
@DATA_DIR
def token_revoke(token_id: str, data_dir: Path | None) -> None:
    from stoker.app.wiring import build_services

    if not build_services(_settings(data_dir)).tokens.revoke(token_id):
        raise click.ClickException(f"no token with id {token_id}")
    click.echo("revoked")


# -- client side ------------------------------------------------------------------------------
@main.command()
@click.argument("steps_json", required=False)
@click.option("--file", "steps_file", type=click.File(), help="a JSON file with the steps (or a run body)")
@click.option("--job", default=None, help="run this job instead of ad-hoc steps")
@click.option("--param", "params", multiple=True, help="NAME=VALUE for the job's {{placeholders}}")
@click.option("--conf", "conf", multiple=True, metavar="KEY=VALUE",
              help="a Spark setting for this run, as spark-submit --conf takes it (repeatable; docs/spark-conf.md)")
@click.option("--idempotency-key", default=None, help="resubmitting with the same key returns the same run "
                                                      "(default: a new key, reused by the client's retries)")
@click.option("--wait", is_flag=True, help="follow the run live (its progress), then print its result")
@click.option("--explain", is_flag=True, help="check the steps and show each one's schema and Spark's plan; "
                                             "nothing is queued")
@JSON
@API_URL
@API_TOKEN
def submit(steps_json: str | None, steps_file: Any, job: str | None, params: tuple[str, ...],
           conf: tuple[str, ...], idempotency_key: str | None, wait: bool, explain: bool, as_json: bool,
           url: str | None, token: str | None) -> None:
    """Submit a run: STEPS_JSON like '[["range", 5], ["collect"]]', a --file, or a --job."""
    body: dict[str, Any] = {}
    if steps_file is not None:
        loaded = json.load(steps_file)
        body = loaded if isinstance(loaded, dict) else {"steps": loaded}
    elif steps_json:
        try:
            body["steps"] = json.loads(steps_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="STEPS_JSON") from exc
    if job:
        body["job"] = job
    if params:
        body["params"] = dict(_parse_param(p) for p in params)
    if conf:
        body["conf"] = {**(body.get("conf") or {}), **dict(_parse_conf(c) for c in conf)}
    if "steps" not in body and "job" not in body:
        raise click.UsageError("give STEPS_JSON, --file or --job")
    unknown = set(body) - {"steps", "job", "params", "options", "priority", "conf", "idempotency_key"}
    if unknown:
        raise click.UsageError(f"unknown field(s) in the run body: {', '.join(sorted(unknown))}")
    body["idempotency_key"] = idempotency_key or body.get("idempotency_key")
    from stoker.cli.runs import follow, watch_live

    with connect(url, token) as client:
        if explain:
            from stoker.cli.watch import explain_pipeline

            sys.exit(explain_pipeline(client, body, as_json=as_json))
        run = client.runs.submit(**body)
        if wait:  # live: its progress on the run's stream (cli/watch.py)
            if not as_json:
                click.echo(f"run {run.id} {run.state}")
            watch_live(client, run.id, as_json)
        else:
            follow(client, run, wait=False, as_json=as_json)


def _parse_conf(raw: str) -> tuple[str, str]:
    """KEY=VALUE as spark-submit --conf takes it: the value is a string, split at the first `=`."""
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{raw!r} is not KEY=VALUE", param_hint="--conf")
    return key.strip(), value


def _parse_param(raw: str) -> tuple[str, Any]:
    name, sep, value = raw.partition("=")
    if not sep:
        raise click.BadParameter(f"{raw!r} is not NAME=VALUE", param_hint="--param")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


@main.command()
@click.argument("run_id")
@JSON
@API_URL
@API_TOKEN
def status(run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Show a run: state, attempts, result or error."""
    from stoker.cli.output import print_result, print_run_line

    with connect(url, token) as client:
        run = client.runs.get(run_id).as_dict()
    if as_json:
        emit_json(run)
        return
    print_run_line(run)
    print_result(run)


@main.command()
@JSON
@API_URL
@API_TOKEN
def functions(as_json: bool, url: str | None, token: str | None) -> None:
    """List the function catalog."""
    from stoker.cli.output import print_functions

    with connect(url, token) as client:
        found = client.functions()
    if as_json:
        emit_json(found)
    else:
        print_functions(found)


def _add_groups() -> None:
    from stoker.cli.access import audit, me, teams, tokens
    from stoker.cli.apps import apps
    from stoker.cli.clusters import clusters, products
    from stoker.cli.events import events
    from stoker.cli.files import files
    from stoker.cli.hosts import hosts
    from stoker.cli.jobs import jobs
    from stoker.cli.runs import batches, dead_letters, health, login, metrics, runs
    from stoker.cli.secrets import secrets
    from stoker.cli.teams import team
    from stoker.cli.tuning import tuning
    from stoker.cli.webhooks import webhooks

    for command in (runs, batches, dead_letters, health, metrics, login, apps, webhooks, me, teams, tokens, audit):
        main.add_command(command)
    main.add_command(events)
    main.add_command(files)
    main.add_command(jobs)
    main.add_command(secrets)
    main.add_command(products)
    main.add_command(clusters)
    main.add_command(hosts)
    main.add_command(team)
    main.add_command(tuning)


_add_groups()


if __name__ == "__main__":
    main()
