"""`stoker tuning show JOB`: a job's tuning from the command line (docs/tuning.md): its policy, the
settings its next runs get, each trial with its prediction, measured figures and verdict, and the
figures of its last runs."""

from __future__ import annotations

import json
from typing import Any

import click

from stoker.cli.remote import TOKEN, URL
from stoker.cli.remote import request as _request


@click.group()
def tuning() -> None:
    """The tuning loop: what it found and changed, measured before and after."""


@tuning.command("show")
@click.argument("job")
@click.option("--runs", "last_runs", default=10, show_default=True, help="how many of the last runs to list")
@click.option("--json", "as_json", is_flag=True, help="print the API's answer as it is")
@URL
@TOKEN
def show(job: str, last_runs: int, as_json: bool, url: str, token: str | None) -> None:
    """A job's tuning: policy, current settings, trials and the last runs' figures."""
    found = _request(url, token, "GET", f"/api/v1/jobs/{job}/tuning")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    policy = found["policy"]
    click.echo(f"{found['job']}: tuning {policy['mode']}, objective {policy['objective']}, "
               f"max slowdown {policy['max_slowdown']:.0%}"
               + (f", may override {', '.join(policy['allow'])}" if policy["allow"] else ""))
    for note in found["notes"]:
        click.echo(f"  note: {note}")
    click.echo("next runs get: " + (_settings(found["current"]) or "the job as written"))
    for bucket in found["buckets"]:
        base = bucket["baseline"]
        click.echo(f"bucket {bucket['bucket']}: {bucket['phase']}, {bucket['exploratory_runs']} exploratory run(s); "
                   f"baseline {base['runs']} run(s), {_s(base['core_ms'])} core-s, {_s(base['cpu_ms'])} CPU-s, "
                   f"{_s(base['duration_ms'])} s")
    for trial in found["trials"]:
        click.echo(f"trial {trial['number']} ({trial['status']}, bucket {trial['bucket']}): {_settings(trial['conf'])}")
        for key, why in trial["reasons"].items():
            click.echo(f"  {key}: {why}")
        prediction = trial["prediction"]
        click.echo("  predicted " + ", ".join(_range(prediction, name, label) for name, label in FIGURES))
        if trial["measured"]:
            measured = trial["measured"]
            click.echo("  measured  " + ", ".join(_before_after(measured, name, label) for name, label in FIGURES))
        if trial["verdict"]:
            click.echo(f"  verdict: {trial['verdict']}")
    runs = found["runs"][-last_runs:]
    if runs:
        click.echo(f"{'run':<38}{'trial':>6}{'core-s':>10}{'CPU-s':>9}{'secs':>8}  ok")
    for run in runs:
        click.echo(f"{run['run_id']:<38}{run['trial'] or '-':>6}{_num(run['core_s']):>10}{_num(run['cpu_s']):>9}"
                   f"{_num(run['duration_s']):>8}  {'yes' if run['succeeded'] else 'NO'}")


FIGURES = (("core_ms", "core-s"), ("cpu_ms", "CPU-s"), ("duration_ms", "s"))


def _settings(conf: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in conf.items())


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _range(prediction: dict[str, Any], name: str, label: str) -> str:
    figure = prediction.get(name) or {}
    return f"{_s(figure.get('expected'))} {label} ({_s(figure.get('low'))}–{_s(figure.get('high'))})"


def _before_after(measured: dict[str, Any], name: str, label: str) -> str:
    figure = measured.get(name) or {}
    return f"{_s(figure.get('baseline'))} → {_s(figure.get('trial'))} {label}"
