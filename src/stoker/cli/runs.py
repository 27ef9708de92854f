"""`stoker runs …` (list, show, cancel, retry, result, log, attempt, wait), `stoker batches …`,
`stoker dead-letters`, `stoker health`, `stoker metrics` and `stoker login`: runs and the
operations around them, through the client."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import click

from stoker.cli.remote import JSON, connect, json_argument, parse_pairs, remote, show


def follow(client: Any, run: Any, *, wait: bool, as_json: bool) -> None:
    """What `submit` and `jobs run` show of the run they made: its line, then with --wait each state
    it passes and its result, exiting 1 unless it SUCCEEDED; --json: the run, once, at the end."""
    from stoker.cli.output import print_result, print_run_line

    if not as_json:
        click.echo(f"run {run.id} {run.state}")
    if wait:
        run = client.runs.wait(run.id, poll=2.0, on_change=None if as_json else (lambda r: print_run_line(r.as_dict())))
    if as_json:
        show(run, True)
    elif wait:
        print_result(run.as_dict())
    if wait and run.state != "SUCCEEDED":
        sys.exit(1)


def watch_live(client: Any, run_id: str, as_json: bool) -> None:
    """Follow a run live on its stream (cli/watch.py: stages, tasks, rows read, the time left), then
    its result or error; exit 1 unless it SUCCEEDED. --json: each stream message as a JSON line."""
    from stoker.cli.output import print_result
    from stoker.cli.watch import follow as follow_live

    run = follow_live(client, run_id, as_json=as_json)
    if not as_json:
        print_result(run)
    if run["state"] != "SUCCEEDED":
        sys.exit(1)


@click.group(invoke_without_command=True)
@click.option("--job", default=None, help="only this job's runs")
@click.option("--state", default=None, help="only runs in this state")
@click.option("--limit", default=20, show_default=True)
@JSON
@remote
@click.pass_context
def runs(ctx: click.Context, job: str | None, state: str | None, limit: int, as_json: bool, url: str | None,
         token: str | None) -> None:
    """Runs: list (the default), show, cancel, retry, result, log, attempt, wait."""
    if ctx.invoked_subcommand is None:
        _list(job, state, limit, as_json, url, token)


@runs.command("list")
@click.option("--job", default=None, help="only this job's runs")
@click.option("--state", default=None, help="only runs in this state")
@click.option("--limit", default=20, show_default=True)
@JSON
@remote
def list_runs(job: str | None, state: str | None, limit: int, as_json: bool, url: str | None,
              token: str | None) -> None:
    """Runs, newest first (every page followed up to --limit)."""
    _list(job, state, limit, as_json, url, token)


def _list(job: str | None, state: str | None, limit: int, as_json: bool, url: str | None, token: str | None) -> None:
    from stoker.cli.output import print_runs

    with connect(url, token) as client:
        found = [r.as_dict() for r in itertools.islice(
            client.runs.list(job=job, state=state, page_size=max(1, min(limit, 500))), limit)]
    show(found, as_json, lambda: print_runs(found))


@runs.command("show")
@click.argument("run_id")
@click.option("--wait", "wait_seconds", type=float, default=0, help="long-poll: answer when it finishes, "
              "or after this many seconds")
@JSON
@remote
def show_run(run_id: str, wait_seconds: float, as_json: bool, url: str | None, token: str | None) -> None:
    """A run: state, attempts, result or error."""
    from stoker.cli.output import print_result, print_run_line

    with connect(url, token) as client:
        run = _wait_at_most(client, run_id, wait_seconds) if wait_seconds else client.runs.get(run_id).as_dict()

    def human() -> None:
        print_run_line(run)
        print_result(run)
    show(run, as_json, human)


def _wait_at_most(client: Any, run_id: str, seconds: float) -> dict[str, Any]:
    try:
        run: dict[str, Any] = client.runs.wait(run_id, timeout=seconds).as_dict()
    except TimeoutError:
        run = client.runs.get(run_id).as_dict()
    return run


@runs.command("wait")
@click.argument("run_id")
@click.option("--timeout", type=float, default=None, help="give up after this many seconds (exit 2)")
@JSON
@remote
def wait_run(run_id: str, timeout: float | None, as_json: bool, url: str | None, token: str | None) -> None:
    """Wait until a run finishes (the server's long-poll); exit 1 unless it SUCCEEDED."""
    from stoker.cli.output import print_result, print_run_line

    with connect(url, token) as client:
        try:
            run = client.runs.wait(run_id, timeout=timeout, poll=5.0,
                                   on_change=None if as_json else (lambda r: print_run_line(r.as_dict())))
        except TimeoutError as exc:
            click.echo(f"stoker: {exc}", err=True)
            sys.exit(2)
    show(run, as_json, lambda: print_result(run.as_dict()))
    if run.state != "SUCCEEDED":
        sys.exit(1)


@runs.command("watch")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: each stream message, then the finished run")
@remote
def watch_run(run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Follow a run live: its stages, tasks done, rows read, the time left; then its result or error."""
    with connect(url, token) as client:
        watch_live(client, run_id, as_json)


@runs.command("spark")
@click.argument("run_id")
@click.option("--attempt", type=int, default=None, help="this attempt (default: the latest)")
@JSON
@remote
def run_spark(run_id: str, attempt: int | None, as_json: bool, url: str | None, token: str | None) -> None:
    """A run's own Spark work: its stages with tasks done of total, input, shuffle, spill, failures."""
    with connect(url, token) as client:
        view = client.request("GET", f"/api/v1/runs/{run_id}/spark",
                              params={"attempt": attempt} if attempt is not None else None)

    def human() -> None:
        for stage in view["stages"]:
            click.echo(f"stage {stage['stage_id']:<5} {stage.get('status') or '-':<9} "
                       f"{stage.get('done', 0)}/{stage.get('tasks', 0)} tasks  {stage.get('name', '')}")
        failure = view.get("failure")
        if failure:
            click.echo(f"failed at step {failure['step']} ({failure['function']}): {failure['message']}")
            for hint in failure["hints"]:
                click.echo(f"  {hint['advice']}")

    show(view, as_json, human)


@runs.command("progress")
@click.argument("run_id")
@JSON
@remote
def run_progress(run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """How far a run is now, and the estimate of the time left (`runs watch` follows it live)."""
    with connect(url, token) as client:
        found = client.request("GET", f"/api/v1/runs/{run_id}/progress")
        run = None if as_json else client.runs.get(run_id).as_dict()

    def human() -> None:
        from rich.console import Console

        from stoker.cli.watch import render

        Console(highlight=False).print(render(run or {}, found))

    show(found, as_json, human)


@runs.command("cancel")
@click.argument("run_id")
@JSON
@remote
def cancel_run(run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Cancel a run (QUEUED: at once; RUNNING: its worker stops it)."""
    from stoker.cli.output import print_run_line

    with connect(url, token) as client:
        run = client.runs.cancel(run_id).as_dict()
    show(run, as_json, lambda: print_run_line(run))


@runs.command("retry")
@click.argument("run_id")
@JSON
@remote
def retry_run(run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Queue a failed or cancelled run again."""
    from stoker.cli.output import print_run_line

    with connect(url, token) as client:
        run = client.runs.retry(run_id).as_dict()
    show(run, as_json, lambda: print_run_line(run))


@runs.command("result")
@click.argument("run_id")
@JSON
@remote
def run_result(run_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A succeeded run's result (a table for rows)."""
    from stoker.cli.output import print_result

    with connect(url, token) as client:
        result = client.runs.result(run_id)
    show(result, as_json, lambda: print_result({"result": result}))


@runs.command("log")
@click.argument("run_id")
@click.option("--attempt", type=int, default=None, help="this attempt's (default: the latest)")
@JSON
@remote
def run_log(run_id: str, attempt: int | None, as_json: bool, url: str | None, token: str | None) -> None:
    """The driver log of a run's attempt."""
    with connect(url, token) as client:
        text = client.runs.log(run_id, attempt)
    show({"run_id": run_id, "attempt": attempt, "log": text}, as_json, lambda: click.echo(text, nl=False))


@runs.command("attempt")
@click.argument("run_id")
@click.argument("number", type=int)
@JSON
@remote
def run_attempt(run_id: str, number: int, as_json: bool, url: str | None, token: str | None) -> None:
    """One attempt of a run: worker, outcome, times, error."""
    with connect(url, token) as client:
        found = client.runs.attempt(run_id, number)
    show(found, as_json, lambda: click.echo(
        f"attempt {found['number']}  {found.get('outcome') or 'running'}  worker {found.get('worker_id') or '-'}  "
        f"{found.get('started_at') or ''} … {found.get('finished_at') or ''}"
        + (f"\n  error: {found['error']}" if found.get("error") else "")))


@click.command("dead-letters")
@click.option("--job", default=None)
@click.option("--run", "run_id", default=None)
@click.option("--request", default=None, help="a seed API's request id")
@click.option("--limit", default=50, show_default=True)
@JSON
@remote
def dead_letters(job: str | None, run_id: str | None, request: str | None, limit: int, as_json: bool,
                 url: str | None, token: str | None) -> None:
    """Runs that used up their attempts, and refused retries."""
    with connect(url, token) as client:
        found = list(itertools.islice(client.runs.dead_letters(job=job, run=run_id, request=request,
                                                               page_size=max(1, min(limit, 500))), limit))

    def human() -> None:
        for d in found:
            click.echo(f"{d['created_at']}  {d.get('kind') or '':<14} run {d['run_id']}  {d.get('reason') or ''}")
    show(found, as_json, human)


@click.group()
def batches() -> None:
    """Batches: N runs submitted together."""


@batches.command("submit")
@click.argument("steps_json", required=False)
@click.option("--job", default=None, help="runs of this job instead of ad-hoc steps")
@click.option("--count", type=int, default=None, help="N identical runs")
@click.option("--params", "params_json", default=None, help="a JSON list of parameter sets: one run each")
@click.option("--option", "options", multiple=True, help="NAME=VALUE run option (VALUE as JSON when it parses)")
@click.option("--wait", is_flag=True, help="until every run has finished")
@JSON
@remote
def submit_batch(steps_json: str | None, job: str | None, count: int | None, params_json: str | None,
                 options: tuple[str, ...], wait: bool, as_json: bool, url: str | None, token: str | None) -> None:
    """Submit N runs at once (one transaction): --count N, or --params '[{...}, {...}]'."""
    steps = json_argument(steps_json, "STEPS_JSON")
    params_list = json_argument(params_json, "--params")
    with connect(url, token) as client:
        batch = client.batches.submit(job=job, steps=steps, count=count, params_list=params_list,
                                      options=parse_pairs(options, "--option") or None)
        if wait:
            batch = {**batch, **client.batches.wait(batch["batch_id"])}
    show(batch, as_json, lambda: click.echo(f"batch {batch['batch_id']}: {len(batch['run_ids'])} run(s)"
                                            + (f"  {batch['states']}" if wait else "")))


@batches.command("show")
@click.argument("batch_id")
@JSON
@remote
def show_batch(batch_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """How many runs of a batch are in each state."""
    with connect(url, token) as client:
        batch = client.batches.get(batch_id)
    show(batch, as_json, lambda: click.echo(
        f"batch {batch_id}: {batch['total']} run(s)  {batch['states']}" + ("  done" if batch["done"] else "")))


@click.command("health")
@JSON
@remote
def health(as_json: bool, url: str | None, token: str | None) -> None:
    """Is the server up, and its database reachable?"""
    with connect(url, token) as client:
        found = client.health()
    show(found, as_json, lambda: click.echo(f"{found['status']}  (Stoker {found.get('version', '?')})"))


@click.command("metrics")
@JSON
@remote
def metrics(as_json: bool, url: str | None, token: str | None) -> None:
    """Prometheus metrics (text; --json: {"metrics": text})."""
    with connect(url, token) as client:
        text = client.metrics()
    show({"metrics": text}, as_json, lambda: click.echo(text, nl=False))


@click.command("login")
@click.option("--url", required=True, help="Stoker's address")
@click.option("--token", prompt=True, hide_input=True, help="API token (asked when not given)")
@click.option("--no-check", is_flag=True, help="save without checking the token on the server")
def login(url: str, token: str, no_check: bool) -> None:
    """Save the address and token for the CLI and the Python client (owner-only config file)."""
    from stoker.client import write_config

    if not no_check:
        with connect(url, token) as client:
            client.functions()  # any route that needs the token
    click.echo(f"saved to {write_config(url.rstrip('/'), token)}")
