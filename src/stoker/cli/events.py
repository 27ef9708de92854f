"""`stoker events …`: import Spark event logs (through the collector's ingest path)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("events", help="Events: run events as they happen (stream); Spark event logs (import).")
def events() -> None:
    pass


@events.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--job-name", required=True, help="The job the imported runs belong to.")
@click.option("--run-id", help="Run id (default: the log's application id). One PATH only.")
@click.option("--url", envvar="STOKER_URL", help="Post to a running Stoker at this URL "
              "(default: write to the local database directly).")
@click.option("--token", envvar="STOKER_TOKEN", help="Token with the 'ingest' scope (with --url).")
@click.option("--data-dir", envvar="STOKER_DATA_DIR", default="data", show_default=True,
              type=click.Path(path_type=Path), help="Data directory (direct mode).")
@click.option("--database-url", envvar="STOKER_DATABASE_URL", help="Database URL (direct mode).")
@click.option("--batch-size", default=1000, show_default=True, help="Events per payload.")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a log: events, payloads, run id")
def import_(paths: tuple[Path, ...], job_name: str, run_id: str | None, url: str | None,
            token: str | None, data_dir: Path, database_url: str | None, batch_size: int, as_json: bool) -> None:
    """Import Spark event logs: plain, .zstd/.lz4, or eventlog_v2_* rolling directories."""
    from stoker.events import importer

    if run_id and len(paths) > 1:
        raise click.UsageError("--run-id needs exactly one PATH")
    if url and not token:
        raise click.UsageError("--url needs --token (or STOKER_TOKEN)")
    client = db = None
    if url:
        import httpx

        client = httpx.Client(timeout=60)
        send = importer.http_sender(client, url, token or "")
    else:
        from stoker.config import Settings
        from stoker.events.store import EventStore
        from stoker.store.db import Database

        settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url())
        db.upgrade()
        send = importer.direct_sender(EventStore(db))
    try:
        for path in paths:
            if as_json:
                result = importer.import_log(path, job_name, send, run_id=run_id, batch_size=batch_size)
                click.echo(json.dumps({"path": str(path), "job_name": job_name, "run_id": result.run_id,
                                       "events": result.events, "payloads": result.payloads,
                                       "duplicates": result.duplicates}))
                continue
            lines = sum(1 for _ in _count_lines(path))
            with click.progressbar(length=lines, label=f"importing {path.name}") as bar:
                result = importer.import_log(path, job_name, send, run_id=run_id,
                                             batch_size=batch_size, progress=bar.update)
                bar.update(lines - bar.pos)
            click.echo(f"{path}: {result.events} events in {result.payloads} payloads into "
                       f"{job_name}/{result.run_id}"
                       + (f" ({result.duplicates} payloads were already stored)" if result.duplicates else ""))
    finally:
        if client is not None:
            client.close()
        if db is not None:
            db.dispose()


def _count_lines(path: Path):  # type: ignore[no-untyped-def]
    from stoker.events.eventlog import iter_lines

    return iter_lines(path)


@events.command("stream")
@click.option("--job", default=None, help="only this job's runs")
@click.option("--run", "run_id", default=None, help="only this run")
@click.option("--after", type=int, default=None, help="from after this event id (0: the oldest kept; default: now)")
@click.option("--until-finished", is_flag=True, help="stop once the run (--run) has finished")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line (the event's document)")
@click.option("--url", envvar="STOKER_URL", default=None, help="Stoker's address")
@click.option("--token", envvar="STOKER_TOKEN", default=None, help="API token (or STOKER_TOKEN)")
def stream(job: str | None, run_id: str | None, after: int | None, until_finished: bool, as_json: bool,
           url: str | None, token: str | None) -> None:
    """Run events as they happen (server-sent events), resuming by itself after a broken connection."""
    from stoker.cli.remote import connect
    from stoker.client import TERMINAL

    with connect(url, token) as client:
        for event in client.events.stream(job=job, run=run_id, after=after):
            doc = event.data
            if as_json:
                click.echo(json.dumps({"id": event.id, **doc}))
            else:
                click.echo(f"{event.id:>8}  {doc.get('event', ''):<16} run {doc.get('run_id') or '-'}  "
                           f"{doc.get('state') or ''}")
            if until_finished and run_id and doc.get("run_id") == run_id and doc.get("state") in TERMINAL:
                return
