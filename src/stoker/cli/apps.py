"""`stoker apps …`: the Spark applications the collector holds (per job: its apps, their events as
NDJSON, duration, summary), through the client."""

from __future__ import annotations

import sys

import click

from stoker.cli.remote import JSON, connect, remote, show


@click.group()
def apps() -> None:
    """Spark apps seen through their listener events: jobs, list, events, duration, summary."""


@apps.command("jobs")
@JSON
@remote
def jobs(as_json: bool, url: str | None, token: str | None) -> None:
    """Job names with Spark events."""
    with connect(url, token) as client:
        names = client.spark.jobs()
    show(names, as_json, lambda: click.echo("\n".join(names)) if names else None)


@apps.command("list")
@click.argument("job_name")
@JSON
@remote
def list_apps(job_name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A job's runs (Spark apps): events stored, first and last seen."""
    with connect(url, token) as client:
        found = client.spark.runs(job_name)

    def human() -> None:
        for r in found.runs:
            click.echo(f"{r.run_id}  {r.event_count} event(s)  start {r.start_ms or '-'}  end {r.end_ms or '-'}")
    show(found, as_json, human)


@apps.command("events")
@click.argument("job_name")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="the same: the events are JSON lines already")
@remote
def events(job_name: str, run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A run's Spark events as NDJSON (one event a line, in time order), streamed to stdout."""
    out = sys.stdout.buffer
    with connect(url, token) as client:
        for line in client.spark.event_lines(job_name, run_id):
            out.write(line + b"\n")
    out.flush()


@apps.command("duration")
@click.argument("job_name")
@click.argument("run_id")
@JSON
@remote
def duration(job_name: str, run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """An app's duration from its start and end events."""
    with connect(url, token) as client:
        found = client.spark.duration(job_name, run_id)
    show(found, as_json, lambda: click.echo(
        f"{found.state}  {found.duration_ms if found.duration_ms is not None else found.elapsed_ms} ms"
        + (f"  (ended by {found.ended_by})" if found.ended_by else "")))


@apps.command("summary")
@click.argument("job_name")
@click.argument("run_id")
@JSON
@remote
def summary(job_name: str, run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """An app's summary: jobs, stages, tasks, failures, bytes, GC time."""
    with connect(url, token) as client:
        found = client.spark.summary(job_name, run_id)

    def human() -> None:
        for name, value in found.model_dump().items():
            click.echo(f"{name:<20} {value}")
    show(found, as_json, human)
