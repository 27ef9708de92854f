"""How the CLI shows runs and results to people (rich tables)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

STATE_STYLE = {"QUEUED": "yellow", "RUNNING": "cyan", "SUCCEEDED": "green", "FAILED": "red",
               "CANCELLED": "magenta"}


def _console() -> Console:
    return Console(highlight=False)


def print_run_line(run: dict[str, Any]) -> None:
    state = run["state"]
    attempt = f" (attempt {run['attempt_count']}/{run['max_attempts']})" if run["attempt_count"] else ""
    _console().print(f"[{STATE_STYLE.get(state, 'white')}]{state}[/]{attempt}  run {run['id']}")


def print_result(run: dict[str, Any]) -> None:
    console = _console()
    if run.get("error"):
        console.print(f"[red]error:[/] {run['error']}")
    result = run.get("result")
    if not result:
        return
    kind = result.get("type")
    if kind == "rows":
        table = Table(*[c["name"] for c in result["columns"]])
        for row in result["rows"]:
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)
        console.print(f"{result['row_count']} row(s)")
    elif kind == "count":
        console.print(f"count: {result['count']}")
    elif kind == "write":
        console.print(f"wrote {result['rows']} row(s) as {result['format']} to {result['path']}")
    else:
        console.print(json.dumps(result, indent=2))


def print_runs(runs: list[dict[str, Any]]) -> None:
    table = Table("id", "job", "state", "attempts", "queued", "finished")
    for r in runs:
        table.add_row(r["id"], r["job"], f"[{STATE_STYLE.get(r['state'], 'white')}]{r['state']}[/]",
                      f"{r['attempt_count']}/{r['max_attempts']}", r["queued_at"] or "", r["finished_at"] or "")
    _console().print(table)


def print_functions(functions: list[dict[str, Any]]) -> None:
    table = Table("signature", "kind", "description")
    for f in functions:
        table.add_row(f["signature"], f["kind"], f["doc"])
    _console().print(table)
