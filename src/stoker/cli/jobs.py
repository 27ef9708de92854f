"""`stoker jobs list|show|schedule|pause|resume|backfill|ticks`: jobs and their schedules from the
command line (docs/schedules.md)."""

from __future__ import annotations

from typing import Any

import click

from stoker.cli.clusters import _request
from stoker.cli.remote import TOKEN, URL


@click.group()
def jobs() -> None:
    """Jobs and their schedules."""


@jobs.command("list")
@URL
@TOKEN
def list_jobs(url: str | None, token: str | None) -> None:
    """Jobs, with their schedules in words."""
    for job in _request(url, token, "GET", "/api/v1/jobs")["jobs"]:
        schedule = job.get("schedule")
        click.echo(f"{job['name']:<30} {job['kind']:<10} {schedule['description'] if schedule else '-'}")


@jobs.command("show")
@click.argument("job")
@URL
@TOKEN
def show(job: str, url: str | None, token: str | None) -> None:
    """A job, its schedule in words, its next ticks and its last ones."""
    found = _request(url, token, "GET", f"/api/v1/jobs/{job}")
    click.echo(f"{found['name']}  ({found['kind']}, mode {found['mode']}, max {found['max_concurrent_runs']} at once)")
    _print_schedule(found.get("schedule"))


def _print_schedule(schedule: dict[str, Any] | None) -> None:
    if schedule is None:
        click.echo("no schedule")
        return
    click.echo(f"schedule: {schedule['cron']}  —  {schedule['description']}")
    click.echo(f"  overlap {schedule['overlap']}, catch-up {schedule['catchup']}"
               + (f", until {schedule['end']}" if schedule.get("end") else ""))
    for tick in schedule["next"]:
        click.echo(f"  next  {tick}")
    for tick in schedule.get("last_ticks", []):
        _print_tick(tick)


def _print_tick(tick: dict[str, Any]) -> None:
    run = f"run {tick['run_id']} {tick['run_state'] or ''}" if tick.get("run_id") else (tick.get("reason") or "")
    until = f" … {tick['until']}" if tick.get("until") else ""
    click.echo(f"  {tick['outcome']:<8} {tick['tick']}{until}  {run}")


@jobs.command("schedule")
@click.argument("job")
@click.argument("cron", required=False)
@click.option("--timezone", default=None, help="IANA time zone (default UTC)")
@click.option("--overlap", type=click.Choice(["skip", "queue", "cancel_previous"]), default=None)
@click.option("--catchup", type=click.Choice(["none", "latest", "all"]), default=None)
@click.option("--param", "params", multiple=True, help="NAME=VALUE each scheduled run gets")
@click.option("--end", default=None, help="no tick after this time (ISO 8601)")
@click.option("--remove", is_flag=True, help="remove the job's schedule")
@URL
@TOKEN
def schedule(job: str, cron: str | None, timezone: str | None, overlap: str | None, catchup: str | None,
             params: tuple[str, ...], end: str | None, remove: bool, url: str | None, token: str | None) -> None:
    """Set a job's schedule (CRON like "0 6 * * *" or @daily), remove it (--remove), or show it."""
    if remove:
        _request(url, token, "PATCH", f"/api/v1/jobs/{job}", json={"schedule": None})
        click.echo(f"{job}: no schedule")
        return
    if cron is None:
        _print_schedule(_request(url, token, "GET", f"/api/v1/jobs/{job}").get("schedule"))
        return
    from stoker.cli import _parse_param

    body: dict[str, Any] = {"cron": cron}
    for key, value in {"timezone": timezone, "overlap": overlap, "catchup": catchup, "end": end}.items():
        if value is not None:
            body[key] = value
    if params:
        body["params"] = dict(_parse_param(p) for p in params)
    found = _request(url, token, "PATCH", f"/api/v1/jobs/{job}", json={"schedule": body})
    _print_schedule({**found["schedule"], "last_ticks": []})


@jobs.command("pause")
@click.argument("job")
@URL
@TOKEN
def pause(job: str, url: str | None, token: str | None) -> None:
    """Pause a job's schedule."""
    click.echo(_request(url, token, "POST", f"/api/v1/jobs/{job}/schedule/pause")["description"])


@jobs.command("resume")
@click.argument("job")
@URL
@TOKEN
def resume(job: str, url: str | None, token: str | None) -> None:
    """Resume a job's schedule from now."""
    found = _request(url, token, "POST", f"/api/v1/jobs/{job}/schedule/resume")
    click.echo(found["description"] + (f"; next {found['next'][0]}" if found["next"] else ""))


@jobs.command("backfill")
@click.argument("job")
@click.option("--start", required=True, help="ISO 8601 (no zone: the schedule's)")
@click.option("--end", required=True, help="ISO 8601, inclusive")
@click.option("--dry-run", is_flag=True, help="list the ticks, queue nothing")
@URL
@TOKEN
def backfill(job: str, start: str, end: str, dry_run: bool, url: str | None, token: str | None) -> None:
    """One run per tick of the job's schedule in [START, END]; asking twice queues nothing new."""
    answer = _request(url, token, "POST", f"/api/v1/jobs/{job}/backfill",
                      json={"start": start, "end": end, "dry_run": dry_run})
    for tick in answer["ticks"]:
        click.echo(f"{tick['tick']}  " + (tick.get("outcome") or "")
                   + (f"  run {tick['run_id']}" if tick.get("run_id") else ""))
    click.echo(f"{len(answer['ticks'])} tick(s)" + (" (dry run)" if dry_run else ""))


@jobs.command("ticks")
@click.argument("job")
@click.option("--limit", default=20, show_default=True)
@URL
@TOKEN
def ticks(job: str, limit: int, url: str | None, token: str | None) -> None:
    """A job's latest ticks: queued (with its run), skipped, missed, refused."""
    for tick in _request(url, token, "GET", f"/api/v1/jobs/{job}/ticks", params={"limit": limit})["ticks"]:
        _print_tick(tick)
