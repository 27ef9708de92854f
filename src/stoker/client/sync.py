"""The synchronous client: `StokerClient(url, token)` and one attribute per resource."""

from __future__ import annotations

import builtins
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from stoker.client import calls
from stoker.client.calls import Call
from stoker.client.config import resolve
from stoker.client.errors import Unreachable, error_of
from stoker.client.models import Duration, Event, Run, RunList, Summary
from stoker.client.retry import Attempts, Retry
from stoker.client.streams import ndjson_lines, sse_events

T = TypeVar("T")
CHUNK = 1024 * 1024
CLUSTER_SETTLED = ("ready", "failed", "destroyed", "degraded")


class StokerClient:
    """Stoker's native API. `url` and `token` default to STOKER_URL / STOKER_TOKEN, then to the CLI's
    config file (`stoker login`); requests that fail on the connection or with 429/503 are retried
    by `retry` (see retry.py: a submit is retried with the same idempotency key)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0,
                 retry: Retry | None = None, transport: httpx.BaseTransport | None = None) -> None:
        target = resolve(url, token)
        self.url, self.token = target.url, target.token
        self.retry = retry or Retry()
        headers = target.headers()
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self.runs = Runs(self)
        self.batches = Batches(self)
        self.jobs = Jobs(self)
        self.files = Files(self)
        self.products = Products(self)
        self.clusters = Clusters(self)
        self.spark = Spark(self)
        self.events = Events(self)
        self.webhooks = Webhooks(self)
        self.secrets = Secrets(self)
        self.teams = Teams(self)
        self.tokens = Tokens(self)
        self.audit = Audit(self)
        self.hosts = Hosts(self)

    def __enter__(self) -> StokerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call[T]) -> T:
        """Send one operation (calls.py), retrying as the policy allows; its answer, read."""
        attempts = Attempts(self.retry, call.repeatable)
        while True:
            try:
                response = self.http.request(call.method, call.path, params=call.params, json=call.json,
                                             content=call.body() if call.body is not None else call.content,
                                             headers=call.headers, **call.timeout(self.http.timeout))
            except httpx.TransportError as exc:
                delay = attempts.after_error(exc)
                if delay is None:
                    raise Unreachable(self.url, exc) from exc
                time.sleep(delay)
                continue
            if response.status_code >= 400:
                delay = attempts.after_status(response)
                if delay is not None:
                    time.sleep(delay)
                    continue
                raise error_of(response)
            return call.parse(response)

    @contextmanager
    def stream(self, path: str, *, params: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (no read timeout). Getting the answer's head is
        retried; an answer of 400 or more raises with the server's message; a break while the body
        is read is the caller's to handle (it knows where to resume)."""
        attempts = Attempts(self.retry, repeatable=True)
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        while True:
            try:
                request = self.http.build_request("GET", path, params=params, headers=headers, timeout=timeout)
                response = self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                if (delay := attempts.after_error(exc)) is None:
                    raise Unreachable(self.url, exc) from exc
                time.sleep(delay)
                continue
            if response.status_code >= 400:
                response.read()
                response.close()
                if (delay := attempts.after_status(response)) is None:
                    raise error_of(response)
                time.sleep(delay)
                continue
            try:
                yield response
            finally:
                response.close()
            return

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any route, for what the resources do not cover: JSON, text or None (204)."""
        response = self.send(Call(method, path, lambda r: r, repeatable=method in ("GET", "PUT", "DELETE"),
                                  **kwargs))
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def functions(self) -> list[dict[str, Any]]:
        """The function catalog: every step a pipeline may use."""
        return self.send(calls.list_functions())

    def health(self) -> dict[str, Any]:
        return self.send(calls.health())

    def metrics(self) -> str:
        """Prometheus metrics (text)."""
        return self.send(calls.metrics())

    def pages(self, fetch: Callable[[str | None], Call[dict[str, Any]]], key: str) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following `next_cursor` one page at a time."""
        cursor: str | None = None
        while True:
            page = self.send(fetch(cursor))
            yield from page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return


class Resource:
    def __init__(self, client: StokerClient) -> None:
        self._c = client


class RunsWatching:
    """A run's own Spark work, its progress, and a pipeline checked before it runs (docs/watching.md)."""

    _c: StokerClient

    def spark(self, run_id: str, *, attempt: int | None = None) -> dict[str, Any]:
        return self._c.send(calls.run_spark(run_id, attempt=attempt))

    def progress(self, run_id: str) -> dict[str, Any]:
        return self._c.send(calls.run_progress(run_id))

    def explain(self, steps: builtins.list[Any] | None = None, *, job: str | None = None,
                params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Each step's output schema and Spark's plan; a refused step raises BadRequest (422) with the
        step and column in its message. Nothing is queued."""
        return self._c.send(calls.explain(steps, job=job, params=params))


class Runs(Resource, RunsWatching):
    def submit(self, steps: list[Any] | None = None, *, job: str | None = None, params: dict[str, Any] | None = None,
               options: dict[str, Any] | None = None, priority: int | None = None, conf: dict[str, Any] | None = None,
               idempotency_key: str | None = None) -> Run:
        """Queue a run of `steps` (an ad-hoc pipeline) or of `job`. Safe to retry: it always carries an
        idempotency key (yours, or a new one the retries reuse)."""
        return self._c.send(calls.submit_run(steps=steps, job=job, params=params, options=options, priority=priority,
                                             conf=conf, idempotency_key=idempotency_key))

    def get(self, run_id: str) -> Run:
        return self._c.send(calls.get_run(run_id))

    def wait(self, run_id: str, *, timeout: float | None = None, poll: float = 30.0,
             on_change: Callable[[Run], None] | None = None) -> Run:
        """The run once finished (SUCCEEDED, FAILED or CANCELLED), through the server's long-poll
        (`poll` seconds per request); TimeoutError after `timeout` seconds. `on_change` sees the run
        each time its state is seen to change."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            left = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            run = self._c.send(calls.get_run(run_id, wait_seconds=round(left, 3)))
            if on_change is not None and run.state != last:
                on_change(run)
            last = run.state
            if run.finished:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} still {run.state} after {timeout:g} s")

    def list(self, *, job: str | None = None, state: str | None = None, page_size: int = 100) -> Iterator[Run]:
        """Runs, newest first, every page followed as you iterate."""
        for item in self._c.pages(lambda cursor: calls.list_runs(job=job, state=state, limit=page_size,
                                                                  cursor=cursor), "runs"):
            yield Run.model_validate(item)

    def cancel(self, run_id: str) -> Run:
        return self._c.send(calls.cancel_run(run_id))

    def retry(self, run_id: str) -> Run:
        return self._c.send(calls.retry_run(run_id))

    def result(self, run_id: str) -> Any:
        return self._c.send(calls.run_result(run_id))

    def attempt(self, run_id: str, number: int) -> dict[str, Any]:
        return self._c.send(calls.run_attempt(run_id, number))

    def log(self, run_id: str, attempt: int | None = None) -> str:
        return self._c.send(calls.run_log(run_id, attempt))

    def dead_letters(self, *, job: str | None = None, run: str | None = None, request: str | None = None,
                     page_size: int = 100) -> Iterator[dict[str, Any]]:
        return self._c.pages(lambda cursor: calls.list_dead_letters(job=job, run=run, request=request,
                                                                    limit=page_size, cursor=cursor), "dead_letters")


class Batches(Resource):
    def submit(self, *, job: str | None = None, steps: list[Any] | None = None, count: int | None = None,
               params_list: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None,
               conf: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._c.send(calls.submit_batch(job=job, steps=steps, count=count, params_list=params_list,
                                               options=options, conf=conf))

    def get(self, batch_id: str) -> dict[str, Any]:
        return self._c.send(calls.get_batch(batch_id))

    def wait(self, batch_id: str, *, timeout: float | None = None, interval: float = 0.5) -> dict[str, Any]:
        """The batch's counts once every run has finished (batches have no long-poll: polled)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (batch := self.get(batch_id))["done"]:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"batch {batch_id} not done after {timeout:g} s: {batch['states']}")
            time.sleep(interval)
        return batch


class Jobs(Resource):
    def tuning(self, job: str) -> dict[str, Any]:
        """The job's tuning: policy, current and baseline settings, every trial (docs/tuning.md)."""
        return self._c.send(calls.job_tuning(job))

    def create(self, name: str, **fields: Any) -> dict[str, Any]:
        """Fields as the API's JobCreate: kind, steps, image, command, mode, max_attempts, schedule …"""
        return self._c.send(calls.create_job(name, **fields))

    def list(self) -> list[dict[str, Any]]:
        return self._c.send(calls.list_jobs())

    def get(self, job: str) -> dict[str, Any]:
        return self._c.send(calls.get_job(job))

    def update(self, job: str, *, unset: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
        """Change the given fields; `unset=("schedule",)` removes a schedule (options, notifications …)."""
        return self._c.send(calls.update_job(job, unset=unset, **fields))

    def submit(self, job: str, *, params: dict[str, Any] | None = None, container: dict[str, Any] | None = None,
               options: dict[str, Any] | None = None, priority: int | None = None, conf: dict[str, Any] | None = None,
               idempotency_key: str | None = None) -> Run:
        return self._c.send(calls.submit_job_run(job, params=params, container=container, options=options,
                                                 priority=priority, conf=conf, idempotency_key=idempotency_key))

    def runs(self, job: str, *, state: str | None = None, page_size: int = 100) -> Iterator[Run]:
        path = f"{calls.API}/jobs/{calls.segment(job)}/runs"
        for item in self._c.pages(lambda cursor: calls.list_runs(state=state, limit=page_size, cursor=cursor,
                                                                  path=path), "runs"):
            yield Run.model_validate(item)

    def notifications(self, job: str) -> dict[str, Any]:
        return self._c.send(calls.job_notifications(job))

    def pause(self, job: str) -> dict[str, Any]:
        return self._c.send(calls.pause_schedule(job))

    def resume(self, job: str) -> dict[str, Any]:
        return self._c.send(calls.resume_schedule(job))

    def ticks(self, job: str, *, limit: int = 50) -> builtins.list[dict[str, Any]]:
        return self._c.send(calls.job_ticks(job, limit))

    def backfill(self, job: str, start: str, end: str, *, dry_run: bool = False) -> dict[str, Any]:
        return self._c.send(calls.backfill(job, start, end, dry_run=dry_run))


class Files(Resource):
    """The storage root (docs/files.md). Remote paths are relative to it."""

    def list(self, prefix: str = "", *, recursive: bool = False, page_size: int = 500) -> Iterator[dict[str, Any]]:
        return self._c.pages(lambda cursor: calls.list_files(prefix, recursive=recursive, limit=page_size,
                                                             cursor=cursor), "files")

    def info(self, remote: str) -> dict[str, Any] | None:
        """The entry of `remote`, or None. (The exact name sorts first among the names it prefixes.)"""
        clean = remote.strip("/")
        page = self._c.send(calls.list_files(clean, limit=1))
        return next((e for e in page["files"] if e["path"] == clean), None)

    def delete(self, remote: str, *, recursive: bool = False) -> None:
        self._c.send(calls.delete_file(remote, recursive=recursive))

    def preview(self, remote: str, *, rows: int = 20) -> dict[str, Any]:
        return self._c.send(calls.preview_file(remote, rows=rows))

    def put(self, local: str | os.PathLike[str], remote: str, *, overwrite: bool = False, checksum: bool = False,
            progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Stream a local file to `remote`, a chunk at a time (published atomically by the server);
        `checksum`: the server checks its SHA-256 before publishing. A retry sends the file again."""
        return self._c.send(calls.put_file(remote, lambda: read_chunks(local, progress), size=os.path.getsize(local),
                                           overwrite=overwrite, checksum=sha256_of(local) if checksum else None))

    def get(self, remote: str, local: str | os.PathLike[str], *, archive: str | None = None,
            progress: Callable[[int], None] | None = None, total: Callable[[int | None], None] | None = None) -> int:
        """Download `remote` into `local` (written beside it, then renamed: never half a file);
        `archive` ("zip", "tar") for a directory. The bytes written."""
        target = Path(local)
        tmp = target.with_name(f".{target.name}.stoker-part")
        written = 0
        try:
            with self._c.stream(calls.files_path(remote), params={"archive": archive} if archive else None) as response:
                if total is not None:
                    length = response.headers.get("content-length")
                    total(int(length) if length and length.isdigit() else None)
                with open(tmp, "wb") as out:
                    for chunk in response.iter_raw(CHUNK):
                        out.write(chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return written


class Products(Resource):
    def list(self) -> list[dict[str, Any]]:
        return self._c.send(calls.list_products())

    def get(self, name: str, version: str) -> dict[str, Any]:
        return self._c.send(calls.get_product(name, version))

    def create(self, name: str, version: str, *, description: str = "") -> dict[str, Any]:
        return self._c.send(calls.create_product(name, version, description))

    def put_template(self, name: str, version: str, template: str, *, yaml: bool = False) -> None:
        self._c.send(calls.put_template(name, version, template, yaml=yaml))

    def put_options(self, name: str, version: str, options: dict[str, Any]) -> None:
        self._c.send(calls.put_options(name, version, options))

    def put_orchestrator(self, name: str, version: str, orchestrator: str) -> None:
        self._c.send(calls.put_orchestrator(name, version, orchestrator))


class Clusters(Resource):
    def launch(self, product: str, version: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._c.send(calls.launch_cluster(product, version, options))

    def list(self, *, status: str | None = None, product: str | None = None) -> list[dict[str, Any]]:
        return self._c.send(calls.list_clusters(status=status, product=product))

    def get(self, cluster_id: str) -> dict[str, Any]:
        return self._c.send(calls.get_cluster(cluster_id))

    def nodes(self, cluster_id: str) -> builtins.list[dict[str, Any]]:
        return self._c.send(calls.cluster_nodes(cluster_id))

    def destroy(self, cluster_id: str) -> dict[str, Any]:
        return self._c.send(calls.destroy_cluster(cluster_id))

    def repair(self, cluster_id: str) -> dict[str, Any]:
        return self._c.send(calls.repair_cluster(cluster_id))

    def duties(self) -> dict[str, Any]:
        return self._c.send(calls.cluster_duties())

    def wait(self, cluster_id: str, *, timeout: float | None = None, interval: float = 0.3,
             on_change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """The cluster once ready, failed, degraded or destroyed (polled: clusters have no long-poll)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            cluster = self.get(cluster_id)
            if on_change is not None and cluster["status"] != last:
                on_change(cluster)
            last = cluster["status"]
            if last in CLUSTER_SETTLED:
                return cluster
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"cluster {cluster_id} still {last} after {timeout:g} s")
            time.sleep(interval)


class Spark(Resource):
    """What the collector holds of Spark apps: jobs, their runs (apps), events, duration, summary."""

    def jobs(self) -> list[str]:
        return self._c.send(calls.spark_jobs())

    def runs(self, job_name: str) -> RunList:
        return self._c.send(calls.spark_runs(job_name))

    def duration(self, job_name: str, run_id: str) -> Duration:
        return self._c.send(calls.spark_duration(job_name, run_id))

    def summary(self, job_name: str, run_id: str) -> Summary:
        return self._c.send(calls.spark_summary(job_name, run_id))

    def event_lines(self, job_name: str, run_id: str) -> Iterator[bytes]:
        """The app's events as stored (one JSON document a line, in time order), read as they come."""
        with self._c.stream(calls.spark_events_path(job_name, run_id)) as response:
            yield from ndjson_lines(response.iter_bytes())

    def events(self, job_name: str, run_id: str) -> Iterator[dict[str, Any]]:
        import json

        for line in self.event_lines(job_name, run_id):
            yield json.loads(line)


class Events(Resource):
    def stream(self, *, job: str | None = None, run: str | None = None, after: int | None = None,
               reconnect: bool = True, progress: bool = False) -> Iterator[Event]:
        """Run events as they happen (server-sent events), from `after` (0: the oldest kept) or from
        now. When the connection breaks it reconnects and resumes after the last event seen. A stream
        of one `run` also carries its progress while it runs (`"event": "run.progress"`, no id:
        docs/watching.md): yielded only with `progress=True`."""
        last = after
        while True:
            params = {"job": job, "run": run, "after": last}
            try:
                with self._c.stream(f"{calls.API}/events/stream",
                                    params={k: v for k, v in params.items() if v is not None}) as response:
                    for event in sse_events(response.iter_lines()):
                        last = event.id if event.id >= 0 else last
                        if progress or event.data.get("event") != "run.progress":
                            yield event
            except httpx.TransportError:  # broke mid-stream (failing to connect raises Unreachable)
                if not reconnect:
                    raise
            if not reconnect:
                return


class Webhooks(Resource):
    def create(self, url: str, *, events: list[str] | None = None, secret: str | None = None,
               description: str | None = None) -> dict[str, Any]:
        return self._c.send(calls.create_webhook(url, events=events, secret=secret, description=description))

    def list(self) -> list[dict[str, Any]]:
        return self._c.send(calls.list_webhooks())

    def get(self, webhook_id: str) -> dict[str, Any]:
        return self._c.send(calls.get_webhook(webhook_id))

    def delete(self, webhook_id: str) -> None:
        self._c.send(calls.delete_webhook(webhook_id))


class Secrets(Resource):
    def create(self, name: str, kind: str, values: dict[str, str], *, description: str | None = None
               ) -> dict[str, Any]:
        return self._c.send(calls.create_secret(name, kind, values, description))

    def list(self) -> list[dict[str, Any]]:
        return self._c.send(calls.list_secrets())

    def get(self, name: str) -> dict[str, Any]:
        return self._c.send(calls.get_secret(name))

    def update(self, name: str, *, values: dict[str, str] | None = None, description: str | None = None
               ) -> dict[str, Any]:
        return self._c.send(calls.update_secret(name, values=values, description=description))

    def delete(self, name: str) -> None:
        self._c.send(calls.delete_secret(name))


def read_chunks(local: str | os.PathLike[str], progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    with open(local, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
            if progress is not None:
                progress(len(chunk))


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Teams(Resource):
    """Teams, their quotas and members (docs/teams.md); `me()`: who this client's token acts for."""

    def me(self) -> dict[str, Any]:
        return self._c.send(calls.me())

    def list(self) -> builtins.list[dict[str, Any]]:
        return self._c.send(calls.list_teams())

    def get(self, team: str) -> dict[str, Any]:
        return self._c.send(calls.get_team(team))

    def create(self, name: str, *, description: str = "") -> dict[str, Any]:
        return self._c.send(calls.create_team(name, description))

    def set_quotas(self, team: str, *, max_running_runs: int | None = None, max_cores: int | None = None,
                   max_memory_mb: int | None = None) -> dict[str, Any]:
        return self._c.send(calls.set_quotas(team, max_running_runs=max_running_runs, max_cores=max_cores,
                                             max_memory_mb=max_memory_mb))

    def members(self, team: str) -> builtins.list[dict[str, Any]]:
        return self._c.send(calls.list_members(team))

    def set_member(self, team: str, user: str, role: str) -> dict[str, Any]:
        return self._c.send(calls.set_member(team, user, role))

    def remove_member(self, team: str, user: str) -> None:
        self._c.send(calls.remove_member(team, user))


class Tokens(Resource):
    """The tokens of this token's team (owners); a made token is shown once."""

    def list(self) -> builtins.list[dict[str, Any]]:
        return self._c.send(calls.list_tokens())

    def create(self, name: str, *, user: str, scopes: builtins.list[str],
               role: str | None = None) -> dict[str, Any]:
        return self._c.send(calls.create_token(name, user, scopes, role))

    def revoke(self, token_id: str) -> None:
        self._c.send(calls.revoke_token(token_id))


class Audit(Resource):
    def entries(self, *, actor: str | None = None, action: str | None = None, team: str | None = None,
                since: float | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every entry (owners: their team's; admins: all), oldest first, page by page."""
        after = 0
        while True:
            page = self._c.send(calls.audit(after=after, limit=page_size, actor=actor, action=action, team=team,
                                            since=since))
            yield from page["entries"]
            if page["next_after"] is None:
                return
            after = page["next_after"]


class Hosts(Resource):
    """The machines that run cluster nodes and container tasks (docs/hosts.md); changes are admins'."""

    def list(self) -> builtins.list[dict[str, Any]]:
        return self._c.send(calls.list_hosts())

    def get(self, name: str) -> dict[str, Any]:
        return self._c.send(calls.get_host(name))

    def add(self, **body: Any) -> dict[str, Any]:
        """Register a host: `name`, `endpoint` (its container API), `cores`, `mem` … as POST
        /api/v1/hosts takes them."""
        return self._c.send(calls.add_host(body))

    def drain(self, name: str) -> dict[str, Any]:
        return self._c.send(calls.drain_host(name))

    def undrain(self, name: str) -> dict[str, Any]:
        return self._c.send(calls.drain_host(name, undrain=True))

    def remove(self, name: str) -> None:
        self._c.send(calls.remove_host(name))
