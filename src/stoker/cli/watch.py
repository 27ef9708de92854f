"""Following a run in the terminal: `stoker runs watch ID` and `stoker submit --wait`.

The run's SSE stream (`GET /api/v1/events/stream?run=ID`) brings its state changes and, while it
runs, its progress (`run.progress`, at most once a second); nothing is polled. People get a live
display (rich): state, tasks done of planned with a bar, the current stages, rows and bytes read,
elapsed time and the estimate's range; then the result or the error. `--json` prints every message
as one JSON line instead, then the finished run as the last line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from stoker.cli.output import STATE_STYLE
from stoker.core.sizes import human_size

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
RECONNECT_SECONDS = 1.0


def stream_messages(http: httpx.Client, run_id: str, *, on_connect: Callable[[], bool]) -> Iterator[dict[str, Any]]:
    """The run's stream messages (their JSON documents), reconnecting where it left off
    (Last-Event-ID) when the connection drops. `on_connect()` is asked once connected whether to
    stop already (the run may have ended before the stream started: the stream starts at the
    newest event)."""
    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with http.stream("GET", "/api/v1/events/stream", params={"run": run_id}, headers=headers,
                             timeout=httpx.Timeout(30.0, read=60.0)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise httpx.HTTPStatusError(f"the run's stream answered {response.status_code}: "
                                                f"{response.text}", request=response.request, response=response)
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        if on_connect():
                            return
                    elif line.startswith("id: "):
                        last_id = line[4:]
                    elif line.startswith("data: "):
                        yield json.loads(line[6:])
        except (httpx.TransportError, httpx.RemoteProtocolError):
            time.sleep(RECONNECT_SECONDS)  # the server restarts or the network blips: resume


def follow(client: Any, run_id: str, *, as_json: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Follow the run until it ends; return it as `GET /api/v1/runs/{id}` shows it then."""
    console = console or Console(highlight=False)
    def fetch() -> dict[str, Any]:
        shown: dict[str, Any] = client.runs.get(run_id).as_dict()
        return shown

    state: dict[str, Any] = {"run": fetch(), "progress": None}

    def ended() -> bool:
        state["run"] = fetch()
        return bool(state["run"]["state"] in TERMINAL)

    def emit(doc: dict[str, Any]) -> None:
        print(json.dumps(doc, separators=(",", ":")), flush=True)

    if as_json:
        for doc in stream_messages(client.http, run_id, on_connect=ended):
            emit(doc)
            if _finished(doc):
                break
        final = fetch()
        emit({"event": "run.finished", "run": final})
        return final
    with Live(render(state["run"], None), console=console, refresh_per_second=4, transient=False) as live:
        for doc in stream_messages(client.http, run_id, on_connect=ended):
            if doc.get("event") == "run.progress":
                state["progress"] = doc
            elif doc.get("state"):
                state["run"] = {**state["run"], "state": doc["state"]}
            live.update(render(state["run"], state["progress"]))
            if _finished(doc):
                break
        state["run"] = fetch()
        if state["progress"] is not None:  # as it ended (the last pushed one was while it ran)
            state["progress"] = client.request("GET", f"/api/v1/runs/{run_id}/progress")
        live.update(render(state["run"], state["progress"]))
    return dict(state["run"])


def _finished(doc: dict[str, Any]) -> bool:
    return doc.get("state") in TERMINAL


def render(run: dict[str, Any], progress: dict[str, Any] | None) -> Group:
    """What the terminal shows: the run's state line, then its progress when it has some."""
    run_state = progress["state"] if progress and run["state"] not in TERMINAL else run["state"]
    head = Text.assemble(("run ", "dim"), run["id"], "  ", (run_state, STATE_STYLE.get(run_state, "white")))
    parts: list[Any] = [head]
    if progress is None:
        parts.append(Text("waiting for its first Spark events…" if run_state == "RUNNING" else "", style="dim"))
        return Group(*parts)
    tasks = progress["tasks"]
    line = Text()
    line.append(f"{tasks['done']} of {tasks['planned']} tasks", style="bold")
    line.append(f" · {progress['stages_done']} of {progress['stages_known']} stages done")
    line.append(f" · {progress['rows_read']:,} rows, {human_size(progress['bytes_read'])} read")
    if progress["elapsed_s"] is not None:
        line.append(f" · {seconds(progress['elapsed_s'])} elapsed")
    estimate = progress.get("estimate")
    if estimate:
        line.append(f" · {estimate['text']}", style="cyan")
        line.append(f" (from {estimate['basis']})", style="dim")
    if tasks["failed"]:
        line.append(f" · {tasks['failed']} failed tasks", style="red")
    bar = Table.grid()  # a bar alone ends no line: in a grid's row it does
    bar.add_row(ProgressBar(total=max(tasks["planned"], 1), completed=tasks["done"], width=60))
    parts += [line, bar]
    if progress["stages"]:
        table = Table("stage", "name", "status", "tasks", "", "input", box=None, padding=(0, 1))
        for stage in progress["stages"]:
            done = min(stage["done"], stage["tasks"])
            table.add_row(str(stage["stage_id"]), stage["name"][:40], stage["status"], f"{done}/{stage['tasks']}",
                          ProgressBar(total=max(stage["tasks"], 1), completed=done, width=20),
                          f"{stage['input_records']:,} rows")
        parts.append(table)
    return Group(*parts)


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def explain_pipeline(client: Any, body: dict[str, Any], *, as_json: bool = False,
                     console: Console | None = None) -> int:
    """`stoker submit --explain`: each step's schema and Spark's plan, or the steps refused (with
    the column and Spark's suggestion); nothing is queued. Returns the exit status (1: refused)."""
    console = console or Console(highlight=False)
    wanted = {k: body[k] for k in ("steps", "job", "params") if k in body}
    response = client.http.post("/api/v1/runs/explain", json=wanted, timeout=httpx.Timeout(30.0, read=300.0))
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text}
    if response.status_code >= 400:
        if as_json:
            print(json.dumps({"status": response.status_code, **answer}), flush=True)
            return 1
        problems = answer.get("problems") or []
        if not problems:
            console.print(f"[red]{response.status_code}:[/] {answer.get('detail')}")
        for p in problems:
            hint = f" — column [bold]{p['column']}[/]" if p.get("column") else ""
            if p.get("suggestion"):
                hint += f"; did you mean {', '.join(p['suggestion'])}?"
            console.print(f"[red]step {p.get('step')} ({p.get('function') or '?'}):[/] {p['message']}{hint}")
        return 1
    if as_json:
        print(json.dumps(answer), flush=True)
        return 0
    for step in answer["steps"]:
        head = f"[bold]step {step['step']}[/] {step['function']}"
        if step.get("schema") is None:
            console.print(f"{head}: [dim]{step.get('note', '')}[/]")
            continue
        columns = ", ".join(f"{f['name']} {f['type']}" for f in step["schema"])
        source = f" [dim](schema from {step['schema_from']})[/]" if step.get("schema_from") else ""
        console.print(f"{head}: {columns}{source}")
    if answer.get("plan"):
        console.print(Text(answer["plan"]))
    console.print("[green]Spark accepts these steps[/]; nothing was queued.")
    return 0
