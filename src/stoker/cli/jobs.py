"""`stoker jobs list|show|create|update|run|runs|notifications|schedule|pause|resume|backfill|ticks`:
jobs and their schedules from the command line (docs/schedules.md), through the client."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import click

from stoker.cli.remote import JSON, connect, json_argument, parse_pairs, remote, show


@click.group()
def jobs() -> None:
    """Jobs (pipelines and container tasks) and their schedules."""


@jobs.command("list")
@JSON
@remote
def list_jobs(as_json: bool, url: str | None, token: str | None) -> None:
    """Jobs, with their schedules in words."""
    with connect(url, token) as client:
        found = client.jobs.list()

    def human() -> None:
        for job in found:
            schedule = job.get("schedule")
            click.echo(f"{job['name']:<30} {job['kind']:<10} {schedule['description'] if schedule else '-'}")
    show(found, as_json, human)


@jobs.command("show")
@click.argument("job")
@JSON
@remote
def show_job(job: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A job, its schedule in words, its next ticks and its last ones."""
    with connect(url, token) as client:
        found = client.jobs.get(job)

    def human() -> None:
        click.echo(f"{found['name']}  ({found['kind']}, mode {found['mode']}, "
                   f"max {found['max_concurrent_runs']} at once)")
        _print_schedule(found.get("schedule"))
    show(found, as_json, human)


def _job_fields(steps_json: str | None, spec: Any, image: str | None, command: str | None,
                env: tuple[str, ...], fields: tuple[str, ...]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(Path(spec).read_text()) if spec else {}
    if steps_json is not None:
        body["steps"] = json_argument(steps_json, "STEPS_JSON")
    if image is not None:
        body.update(kind="container", image=image)
    if command is not None:
        body["command"] = command
    if env:
        body["env"] = {k: str(v) for k, v in parse_pairs(env, "--env").items()}
    body.update(parse_pairs(fields, "--set"))
    return body


JOB_OPTIONS = [
    click.argument("steps_json", required=False),
    click.option("--file", "spec", type=click.Path(exists=True, dir_okay=False),
                 help="a JSON file with the job's fields (as the API takes them)"),
    click.option("--image", default=None, help="a container job (a container task): this image"),
    click.option("--command", default=None, help="the container's command"),
    click.option("--env", multiple=True, metavar="NAME=VALUE", help="a container's environment variable"),
    click.option("--set", "fields", multiple=True, metavar="FIELD=VALUE",
                 help="any other field (mode=submit, max_attempts=5, schedule='0 6 * * *' …; VALUE as JSON "
                      "when it parses)"),
]


def job_options(command: Any) -> Any:
    for option in reversed(JOB_OPTIONS):
        command = option(command)
    return command


@jobs.command("create")
@click.argument("name")
@job_options
@JSON
@remote
def create_job(name: str, steps_json: str | None, spec: Any, image: str | None, command: str | None,
               env: tuple[str, ...], fields: tuple[str, ...], as_json: bool, url: str | None,
               token: str | None) -> None:
    """Create a job: STEPS_JSON (a pipeline), or --image/--command (a container task), plus --set FIELD=VALUE."""
    body = _job_fields(steps_json, spec, image, command, env, fields)
    with connect(url, token) as client:
        found = client.jobs.create(name, **body)
    show(found, as_json, lambda: click.echo(f"job {found['name']} created ({found['kind']})"))


@jobs.command("update")
@click.argument("name")
@job_options
@click.option("--unset", "unset", multiple=True, help="a field to remove (schedule, options, notifications, conf)")
@JSON
@remote
def update_job(name: str, steps_json: str | None, spec: Any, image: str | None, command: str | None,
               env: tuple[str, ...], fields: tuple[str, ...], unset: tuple[str, ...], as_json: bool,
               url: str | None, token: str | None) -> None:
    """Change a job's steps, policy, Spark settings, schedule, options or notifications."""
    body = _job_fields(steps_json, spec, image, command, env, fields)
    with connect(url, token) as client:
        found = client.jobs.update(name, unset=unset, **body)
    show(found, as_json, lambda: click.echo(f"job {found['name']} updated"))


@jobs.command("run")
@click.argument("job")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="a value for the job's {{placeholders}}")
@click.option("--idempotency-key", default=None)
@click.option("--wait", is_flag=True, help="follow the run and print its result")
@JSON
@remote
def run_job(job: str, params: tuple[str, ...], idempotency_key: str | None, wait: bool, as_json: bool,
            url: str | None, token: str | None) -> None:
    """Submit a run of JOB."""
    from stoker.cli.runs import follow

    with connect(url, token) as client:
        run = client.jobs.submit(job, params=parse_pairs(params, "--param") or None, idempotency_key=idempotency_key)
        follow(client, run, wait=wait, as_json=as_json)


@jobs.command("runs")
@click.argument("job")
@click.option("--state", default=None)
@click.option("--limit", default=20, show_default=True)
@JSON
@remote
def job_runs(job: str, state: str | None, limit: int, as_json: bool, url: str | None, token: str | None) -> None:
    """A job's runs, newest first."""
    from stoker.cli.output import print_runs

    with connect(url, token) as client:
        found = [r.as_dict() for r in itertools.islice(
            client.jobs.runs(job, state=state, page_size=max(1, min(limit, 500))), limit)]
    show(found, as_json, lambda: print_runs(found))


@jobs.command("notifications")
@click.argument("job")
@JSON
@remote
def notifications(job: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A job's notifications and their delivery history, newest first."""
    with connect(url, token) as client:
        found = client.jobs.notifications(job)

    def human() -> None:
        click.echo(json.dumps(found.get("notifications"), indent=2))
        for d in found.get("deliveries", []):
            click.echo(f"  {d.get('created_at', '')}  {d.get('event', '')}  {d.get('kind', '')}  {d.get('state', '')}")
    show(found, as_json, human)


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
@JSON
@remote
def schedule(job: str, cron: str | None, timezone: str | None, overlap: str | None, catchup: str | None,
             params: tuple[str, ...], end: str | None, remove: bool, as_json: bool, url: str | None,
             token: str | None) -> None:
    """Set a job's schedule (CRON like "0 6 * * *" or @daily), remove it (--remove), or show it."""
    with connect(url, token) as client:
        if remove:
            found = client.jobs.update(job, unset=("schedule",))
            show(found.get("schedule"), as_json, lambda: click.echo(f"{job}: no schedule"))
            return
        if cron is None:
            current = client.jobs.get(job).get("schedule")
            show(current, as_json, lambda: _print_schedule(current))
            return
        body: dict[str, Any] = {"cron": cron}
        for key, value in {"timezone": timezone, "overlap": overlap, "catchup": catchup, "end": end}.items():
            if value is not None:
                body[key] = value
        if params:
            body["params"] = parse_pairs(params, "--param")
        found = client.jobs.update(job, schedule=body)
    show(found["schedule"], as_json, lambda: _print_schedule({**found["schedule"], "last_ticks": []}))


@jobs.command("pause")
@click.argument("job")
@JSON
@remote
def pause(job: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Pause a job's schedule."""
    with connect(url, token) as client:
        found = client.jobs.pause(job)
    show(found, as_json, lambda: click.echo(found["description"]))


@jobs.command("resume")
@click.argument("job")
@JSON
@remote
def resume(job: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Resume a job's schedule from now."""
    with connect(url, token) as client:
        found = client.jobs.resume(job)
    show(found, as_json, lambda: click.echo(found["description"] + (f"; next {found['next'][0]}"
                                                                    if found["next"] else "")))


@jobs.command("backfill")
@click.argument("job")
@click.option("--start", required=True, help="ISO 8601 (no zone: the schedule's)")
@click.option("--end", required=True, help="ISO 8601, inclusive")
@click.option("--dry-run", is_flag=True, help="list the ticks, queue nothing")
@JSON
@remote
def backfill(job: str, start: str, end: str, dry_run: bool, as_json: bool, url: str | None,
             token: str | None) -> None:
    """One run per tick of the job's schedule in [START, END]; asking twice queues nothing new."""
    with connect(url, token) as client:
        answer = client.jobs.backfill(job, start, end, dry_run=dry_run)

    def human() -> None:
        for tick in answer["ticks"]:
            click.echo(f"{tick['tick']}  " + (tick.get("outcome") or "")
                       + (f"  run {tick['run_id']}" if tick.get("run_id") else ""))
        click.echo(f"{len(answer['ticks'])} tick(s)" + (" (dry run)" if dry_run else ""))
    show(answer, as_json, human)


@jobs.command("ticks")
@click.argument("job")
@click.option("--limit", default=20, show_default=True)
@JSON
@remote
def ticks(job: str, limit: int, as_json: bool, url: str | None, token: str | None) -> None:
    """A job's latest ticks: queued (with its run), skipped, missed, refused."""
    with connect(url, token) as client:
        found = client.jobs.ticks(job, limit=limit)

    def human() -> None:
        for tick in found:
            _print_tick(tick)
    show(found, as_json, human)
