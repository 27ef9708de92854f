"""The asyncio client: `AsyncStokerClient`, the same resources as `StokerClient` with `await`.
Every path, body and parser is calls.py's, shared with the sync client; this module only sends."""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from stoker.client import calls
from stoker.client.calls import Call
from stoker.client.config import resolve
from stoker.client.errors import Unreachable, error_of
from stoker.client.models import Duration, Event, Run, RunList, Summary
from stoker.client.retry import Attempts, Retry
from stoker.client.streams import ndjson_lines_async, sse_events_async
from stoker.client.sync import CHUNK, CLUSTER_SETTLED, sha256_of

T = TypeVar("T")


class AsyncStokerClient:
    """As `StokerClient` (same arguments, same resources), for asyncio."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0,
                 retry: Retry | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        target = resolve(url, token)
        self.url, self.token = target.url, target.token
        self.retry = retry or Retry()
        headers = target.headers()
        self.http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self.runs = AsyncRuns(self)
        self.batches = AsyncBatches(self)
        self.jobs = AsyncJobs(self)
        self.files = AsyncFiles(self)
        self.products = AsyncProducts(self)
        self.clusters = AsyncClusters(self)
        self.spark = AsyncSpark(self)
        self.events = AsyncEvents(self)
        self.webhooks = AsyncWebhooks(self)
        self.secrets = AsyncSecrets(self)
        self.teams = AsyncTeams(self)
        self.tokens = AsyncTokens(self)
        self.audit = AsyncAudit(self)
        self.hosts = AsyncHosts(self)

    async def __aenter__(self) -> AsyncStokerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, call: Call[T]) -> T:
        attempts = Attempts(self.retry, call.repeatable)
        while True:
            try:
                response = await self.http.request(
                    call.method, call.path, params=call.params, json=call.json,
                    content=call.body() if call.body is not None else call.content,
                    headers=call.headers, **call.timeout(self.http.timeout))
            except httpx.TransportError as exc:
                if (delay := attempts.after_error(exc)) is None:
                    raise Unreachable(self.url, exc) from exc
                await asyncio.sleep(delay)
                continue
            if response.status_code >= 400:
                if (delay := attempts.after_status(response)) is not None:
                    await asyncio.sleep(delay)
                    continue
                raise error_of(response)
            return call.parse(response)

    @asynccontextmanager
    async def stream(self, path: str, *, params: dict[str, Any] | None = None,
                     headers: dict[str, str] | None = None) -> AsyncIterator[httpx.Response]:
        attempts = Attempts(self.retry, repeatable=True)
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        while True:
            try:
                request = self.http.build_request("GET", path, params=params, headers=headers, timeout=timeout)
                response = await self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                if (delay := attempts.after_error(exc)) is None:
                    raise Unreachable(self.url, exc) from exc
                await asyncio.sleep(delay)
                continue
            if response.status_code >= 400:
                await response.aread()
                await response.aclose()
                if (delay := attempts.after_status(response)) is None:
                    raise error_of(response)
                await asyncio.sleep(delay)
                continue
            try:
                yield response
            finally:
                await response.aclose()
            return

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.send(Call(method, path, lambda r: r, repeatable=method in ("GET", "PUT", "DELETE"),
                                        **kwargs))
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def functions(self) -> builtins.list[dict[str, Any]]:
        return await self.send(calls.list_functions())

    async def health(self) -> dict[str, Any]:
        return await self.send(calls.health())

    async def metrics(self) -> str:
        return await self.send(calls.metrics())

    async def pages(self, fetch: Callable[[str | None], Call[dict[str, Any]]], key: str
                    ) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = await self.send(fetch(cursor))
            for item in page[key]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return


class AsyncResource:
    def __init__(self, client: AsyncStokerClient) -> None:
        self._c = client


class AsyncRunsWatching:
    _c: AsyncStokerClient

    async def spark(self, run_id: str, *, attempt: int | None = None) -> dict[str, Any]:
        return await self._c.send(calls.run_spark(run_id, attempt=attempt))

    async def progress(self, run_id: str) -> dict[str, Any]:
        return await self._c.send(calls.run_progress(run_id))

    async def explain(self, steps: builtins.list[Any] | None = None, *, job: str | None = None,
                      params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._c.send(calls.explain(steps, job=job, params=params))


class AsyncRuns(AsyncResource, AsyncRunsWatching):
    async def submit(self, steps: builtins.list[Any] | None = None, *, job: str | None = None,
                     params: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                     priority: int | None = None, conf: dict[str, Any] | None = None,
                     idempotency_key: str | None = None) -> Run:
        return await self._c.send(calls.submit_run(steps=steps, job=job, params=params, options=options,
                                                   priority=priority, conf=conf, idempotency_key=idempotency_key))

    async def get(self, run_id: str) -> Run:
        return await self._c.send(calls.get_run(run_id))

    async def wait(self, run_id: str, *, timeout: float | None = None, poll: float = 30.0,
                   on_change: Callable[[Run], None] | None = None) -> Run:
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            left = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            run = await self._c.send(calls.get_run(run_id, wait_seconds=round(left, 3)))
            if on_change is not None and run.state != last:
                on_change(run)
            last = run.state
            if run.finished:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} still {run.state} after {timeout:g} s")

    async def list(self, *, job: str | None = None, state: str | None = None, page_size: int = 100
                   ) -> AsyncIterator[Run]:
        async for item in self._c.pages(lambda cursor: calls.list_runs(job=job, state=state, limit=page_size,
                                                                        cursor=cursor), "runs"):
            yield Run.model_validate(item)

    async def cancel(self, run_id: str) -> Run:
        return await self._c.send(calls.cancel_run(run_id))

    async def retry(self, run_id: str) -> Run:
        return await self._c.send(calls.retry_run(run_id))

    async def result(self, run_id: str) -> Any:
        return await self._c.send(calls.run_result(run_id))

    async def attempt(self, run_id: str, number: int) -> dict[str, Any]:
        return await self._c.send(calls.run_attempt(run_id, number))

    async def log(self, run_id: str, attempt: int | None = None) -> str:
        return await self._c.send(calls.run_log(run_id, attempt))

    def dead_letters(self, *, job: str | None = None, run: str | None = None, request: str | None = None,
                     page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        return self._c.pages(lambda cursor: calls.list_dead_letters(job=job, run=run, request=request,
                                                                    limit=page_size, cursor=cursor), "dead_letters")


class AsyncBatches(AsyncResource):
    async def submit(self, *, job: str | None = None, steps: builtins.list[Any] | None = None,
                     count: int | None = None, params_list: builtins.list[dict[str, Any]] | None = None,
                     options: dict[str, Any] | None = None, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._c.send(calls.submit_batch(job=job, steps=steps, count=count, params_list=params_list,
                                                     options=options, conf=conf))

    async def get(self, batch_id: str) -> dict[str, Any]:
        return await self._c.send(calls.get_batch(batch_id))

    async def wait(self, batch_id: str, *, timeout: float | None = None, interval: float = 0.5) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (batch := await self.get(batch_id))["done"]:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"batch {batch_id} not done after {timeout:g} s: {batch['states']}")
            await asyncio.sleep(interval)
        return batch


class AsyncJobs(AsyncResource):
    async def tuning(self, job: str) -> dict[str, Any]:
        return await self._c.send(calls.job_tuning(job))

    async def create(self, name: str, **fields: Any) -> dict[str, Any]:
        return await self._c.send(calls.create_job(name, **fields))

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_jobs())

    async def get(self, job: str) -> dict[str, Any]:
        return await self._c.send(calls.get_job(job))

    async def update(self, job: str, *, unset: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
        return await self._c.send(calls.update_job(job, unset=unset, **fields))

    async def submit(self, job: str, *, params: dict[str, Any] | None = None,
                     container: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                     priority: int | None = None, conf: dict[str, Any] | None = None,
                     idempotency_key: str | None = None) -> Run:
        return await self._c.send(calls.submit_job_run(job, params=params, container=container, options=options,
                                                       priority=priority, conf=conf, idempotency_key=idempotency_key))

    async def runs(self, job: str, *, state: str | None = None, page_size: int = 100) -> AsyncIterator[Run]:
        path = f"{calls.API}/jobs/{calls.segment(job)}/runs"
        async for item in self._c.pages(lambda cursor: calls.list_runs(state=state, limit=page_size, cursor=cursor,
                                                                        path=path), "runs"):
            yield Run.model_validate(item)

    async def notifications(self, job: str) -> dict[str, Any]:
        return await self._c.send(calls.job_notifications(job))

    async def pause(self, job: str) -> dict[str, Any]:
        return await self._c.send(calls.pause_schedule(job))

    async def resume(self, job: str) -> dict[str, Any]:
        return await self._c.send(calls.resume_schedule(job))

    async def ticks(self, job: str, *, limit: int = 50) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.job_ticks(job, limit))

    async def backfill(self, job: str, start: str, end: str, *, dry_run: bool = False) -> dict[str, Any]:
        return await self._c.send(calls.backfill(job, start, end, dry_run=dry_run))


class AsyncFiles(AsyncResource):
    def list(self, prefix: str = "", *, recursive: bool = False, page_size: int = 500
             ) -> AsyncIterator[dict[str, Any]]:
        return self._c.pages(lambda cursor: calls.list_files(prefix, recursive=recursive, limit=page_size,
                                                             cursor=cursor), "files")

    async def info(self, remote: str) -> dict[str, Any] | None:
        clean = remote.strip("/")
        page = await self._c.send(calls.list_files(clean, limit=1))
        return next((e for e in page["files"] if e["path"] == clean), None)

    async def delete(self, remote: str, *, recursive: bool = False) -> None:
        await self._c.send(calls.delete_file(remote, recursive=recursive))

    async def preview(self, remote: str, *, rows: int = 20) -> dict[str, Any]:
        return await self._c.send(calls.preview_file(remote, rows=rows))

    async def put(self, local: str | os.PathLike[str], remote: str, *, overwrite: bool = False,
                  checksum: bool = False) -> dict[str, Any]:
        digest = await asyncio.to_thread(sha256_of, local) if checksum else None
        return await self._c.send(calls.put_file(remote, lambda: _chunks(local), size=os.path.getsize(local),
                                                 overwrite=overwrite, checksum=digest))

    async def get(self, remote: str, local: str | os.PathLike[str], *, archive: str | None = None) -> int:
        target = os.fspath(local)
        tmp = os.path.join(os.path.dirname(target) or ".", f".{os.path.basename(target)}.stoker-part")
        written = 0
        try:
            async with self._c.stream(calls.files_path(remote),
                                      params={"archive": archive} if archive else None) as response:
                with open(tmp, "wb") as out:
                    async for chunk in response.aiter_raw(CHUNK):
                        out.write(chunk)
                        written += len(chunk)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return written


class AsyncProducts(AsyncResource):
    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_products())

    async def get(self, name: str, version: str) -> dict[str, Any]:
        return await self._c.send(calls.get_product(name, version))

    async def create(self, name: str, version: str, *, description: str = "") -> dict[str, Any]:
        return await self._c.send(calls.create_product(name, version, description))

    async def put_template(self, name: str, version: str, template: str, *, yaml: bool = False) -> None:
        await self._c.send(calls.put_template(name, version, template, yaml=yaml))

    async def put_options(self, name: str, version: str, options: dict[str, Any]) -> None:
        await self._c.send(calls.put_options(name, version, options))

    async def put_orchestrator(self, name: str, version: str, orchestrator: str) -> None:
        await self._c.send(calls.put_orchestrator(name, version, orchestrator))


class AsyncClusters(AsyncResource):
    async def launch(self, product: str, version: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._c.send(calls.launch_cluster(product, version, options))

    async def list(self, *, status: str | None = None, product: str | None = None) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_clusters(status=status, product=product))

    async def get(self, cluster_id: str) -> dict[str, Any]:
        return await self._c.send(calls.get_cluster(cluster_id))

    async def nodes(self, cluster_id: str) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.cluster_nodes(cluster_id))

    async def destroy(self, cluster_id: str) -> dict[str, Any]:
        return await self._c.send(calls.destroy_cluster(cluster_id))

    async def repair(self, cluster_id: str) -> dict[str, Any]:
        return await self._c.send(calls.repair_cluster(cluster_id))

    async def duties(self) -> dict[str, Any]:
        return await self._c.send(calls.cluster_duties())

    async def wait(self, cluster_id: str, *, timeout: float | None = None, interval: float = 0.3) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (cluster := await self.get(cluster_id))["status"] not in CLUSTER_SETTLED:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"cluster {cluster_id} still {cluster['status']} after {timeout:g} s")
            await asyncio.sleep(interval)
        return cluster


class AsyncSpark(AsyncResource):
    async def jobs(self) -> builtins.list[str]:
        return await self._c.send(calls.spark_jobs())

    async def runs(self, job_name: str) -> RunList:
        return await self._c.send(calls.spark_runs(job_name))

    async def duration(self, job_name: str, run_id: str) -> Duration:
        return await self._c.send(calls.spark_duration(job_name, run_id))

    async def summary(self, job_name: str, run_id: str) -> Summary:
        return await self._c.send(calls.spark_summary(job_name, run_id))

    async def event_lines(self, job_name: str, run_id: str) -> AsyncIterator[bytes]:
        async with self._c.stream(calls.spark_events_path(job_name, run_id)) as response:
            async for line in ndjson_lines_async(response.aiter_bytes()):
                yield line

    async def events(self, job_name: str, run_id: str) -> AsyncIterator[dict[str, Any]]:
        async for line in self.event_lines(job_name, run_id):
            yield json.loads(line)


class AsyncEvents(AsyncResource):
    async def stream(self, *, job: str | None = None, run: str | None = None, after: int | None = None,
                     reconnect: bool = True, progress: bool = False) -> AsyncIterator[Event]:
        last = after
        while True:
            params = {"job": job, "run": run, "after": last}
            try:
                async with self._c.stream(f"{calls.API}/events/stream",
                                          params={k: v for k, v in params.items() if v is not None}) as response:
                    async for event in sse_events_async(response.aiter_lines()):
                        last = event.id if event.id >= 0 else last
                        if progress or event.data.get("event") != "run.progress":
                            yield event
            except httpx.TransportError:
                if not reconnect:
                    raise
            if not reconnect:
                return


class AsyncWebhooks(AsyncResource):
    async def create(self, url: str, *, events: builtins.list[str] | None = None, secret: str | None = None,
                     description: str | None = None) -> dict[str, Any]:
        return await self._c.send(calls.create_webhook(url, events=events, secret=secret, description=description))

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_webhooks())

    async def get(self, webhook_id: str) -> dict[str, Any]:
        return await self._c.send(calls.get_webhook(webhook_id))

    async def delete(self, webhook_id: str) -> None:
        await self._c.send(calls.delete_webhook(webhook_id))


class AsyncSecrets(AsyncResource):
    async def create(self, name: str, kind: str, values: dict[str, str], *, description: str | None = None
                     ) -> dict[str, Any]:
        return await self._c.send(calls.create_secret(name, kind, values, description))

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_secrets())

    async def get(self, name: str) -> dict[str, Any]:
        return await self._c.send(calls.get_secret(name))

    async def update(self, name: str, *, values: dict[str, str] | None = None, description: str | None = None
                     ) -> dict[str, Any]:
        return await self._c.send(calls.update_secret(name, values=values, description=description))

    async def delete(self, name: str) -> None:
        await self._c.send(calls.delete_secret(name))


async def _chunks(local: str | os.PathLike[str]) -> AsyncIterator[bytes]:
    with open(local, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


class AsyncTeams(AsyncResource):
    """Teams, their quotas and members (docs/teams.md); `me()`: who this client's token acts for."""

    async def me(self) -> dict[str, Any]:
        return await self._c.send(calls.me())

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_teams())

    async def get(self, team: str) -> dict[str, Any]:
        return await self._c.send(calls.get_team(team))

    async def create(self, name: str, *, description: str = "") -> dict[str, Any]:
        return await self._c.send(calls.create_team(name, description))

    async def set_quotas(self, team: str, *, max_running_runs: int | None = None, max_cores: int | None = None,
                   max_memory_mb: int | None = None) -> dict[str, Any]:
        return await self._c.send(calls.set_quotas(team, max_running_runs=max_running_runs, max_cores=max_cores,
                                             max_memory_mb=max_memory_mb))

    async def members(self, team: str) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_members(team))

    async def set_member(self, team: str, user: str, role: str) -> dict[str, Any]:
        return await self._c.send(calls.set_member(team, user, role))

    async def remove_member(self, team: str, user: str) -> None:
        await self._c.send(calls.remove_member(team, user))


class AsyncTokens(AsyncResource):
    """The tokens of this token's team (owners); a made token is shown once."""

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_tokens())

    async def create(self, name: str, *, user: str, scopes: builtins.list[str],
                     role: str | None = None) -> dict[str, Any]:
        return await self._c.send(calls.create_token(name, user, scopes, role))

    async def revoke(self, token_id: str) -> None:
        await self._c.send(calls.revoke_token(token_id))


class AsyncAudit(AsyncResource):
    async def entries(self, *, actor: str | None = None, action: str | None = None, team: str | None = None,
                since: float | None = None, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every entry (owners: their team's; admins: all), oldest first, page by page."""
        after = 0
        while True:
            page = await self._c.send(calls.audit(after=after, limit=page_size, actor=actor, action=action, team=team,
                                            since=since))
            for entry in page["entries"]:
                yield entry
            if page["next_after"] is None:
                return
            after = page["next_after"]


class AsyncHosts(AsyncResource):
    """The machines that run cluster nodes and container tasks (docs/hosts.md); changes are admins'."""

    async def list(self) -> builtins.list[dict[str, Any]]:
        return await self._c.send(calls.list_hosts())

    async def get(self, name: str) -> dict[str, Any]:
        return await self._c.send(calls.get_host(name))

    async def add(self, **body: Any) -> dict[str, Any]:
        """Register a host: `name`, `endpoint` (its container API), `cores`, `mem` … as POST
        /api/v1/hosts takes them."""
        return await self._c.send(calls.add_host(body))

    async def drain(self, name: str) -> dict[str, Any]:
        return await self._c.send(calls.drain_host(name))

    async def undrain(self, name: str) -> dict[str, Any]:
        return await self._c.send(calls.drain_host(name, undrain=True))

    async def remove(self, name: str) -> None:
        await self._c.send(calls.remove_host(name))
