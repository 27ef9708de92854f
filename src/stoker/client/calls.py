"""Every operation of the native API as a `Call`: method, path, query, body, how to read the answer,
and whether it is safe to send twice. The sync and async clients only send them, so the paths, the
bodies (built with the API's own request models, so a bad argument is refused here with the same
rules the server applies) and the parsing exist once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from stoker.api.models import Backfill, BatchCreate, JobCreate, JobRunCreate, JobUpdate, RunCreate
from stoker.api.schemas import Duration, RunList, SecretCreate, SecretUpdate, Summary, WebhookCreate
from stoker.client.models import Run

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
API = "/api/v1"
LONG_POLL_MARGIN = 30.0  # seconds a long-poll's read may take beyond its wait


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    # Safe to send again after the connection broke mid-request (see retry.py).
    repeatable: bool = True
    read_timeout: float | None = None
    # A streamed body, made afresh for each try (an upload's chunks); its answer may take any time.
    body: Callable[[], Any] | None = None

    def timeout(self, client: httpx.Timeout) -> dict[str, Any]:
        """The call's own timeout, if it has one, built on the client's (`client`); else nothing,
        so the client's applies (None would mean none)."""
        if self.body is not None:
            return {"timeout": httpx.Timeout(client.connect, read=None)}
        if self.read_timeout is None:
            return {}
        return {"timeout": httpx.Timeout(client.connect, read=self.read_timeout, write=client.write,
                                         pool=client.pool)}


def call(method: str, path: str, parse: Callable[[httpx.Response], T], *, repeatable: bool | None = None,
         params: Mapping[str, Any] | None = None, **kwargs: Any) -> Call[T]:
    clean = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
    return Call(method, path, parse, params=clean or None,
                repeatable=method in ("GET", "PUT", "DELETE") if repeatable is None else repeatable, **kwargs)


def _query_value(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


# --- reading answers ------------------------------------------------------------------------------

def json_of(response: httpx.Response) -> Any:
    return response.json()


def run_of(response: httpx.Response) -> Run:
    return Run.model_validate(response.json())


def nothing(_response: httpx.Response) -> None:
    return None


def text_of(response: httpx.Response) -> str:
    return response.text


def field(name: str) -> Callable[[httpx.Response], Any]:
    def parse(response: httpx.Response) -> Any:
        return response.json()[name]
    return parse


def model(kind: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        return kind.model_validate(response.json())
    return parse


def body(schema: type[BaseModel], /, **given: Any) -> dict[str, Any]:
    """The JSON of a request body, checked by the API's own model; None means "not given"."""
    return schema(**{k: v for k, v in given.items() if v is not None}).model_dump(mode="json", exclude_unset=True)


def segment(value: str) -> str:
    """One path segment (a job name, a secret's name …), quoted so it stays one."""
    return quote(value, safe="")


def new_idempotency_key() -> str:
    return f"client-{uuid.uuid4().hex}"


# --- runs -----------------------------------------------------------------------------------------

def submit_run(*, steps: list[Any] | None = None, job: str | None = None, params: dict[str, Any] | None = None,
               options: dict[str, Any] | None = None, priority: int | None = None,
               conf: dict[str, Any] | None = None, idempotency_key: str | None = None) -> Call[Run]:
    """A submit always carries an idempotency key (the caller's, else a new one): a retry after a
    lost answer sends the same key, and the server answers with the run the first try made."""
    key = idempotency_key or new_idempotency_key()
    return call("POST", f"{API}/runs", run_of, repeatable=True, headers={"Idempotency-Key": key},
                json=body(RunCreate, steps=steps, job=job, params=params, options=options, priority=priority,
                          conf=conf))


def get_run(run_id: str, *, wait_seconds: float = 0) -> Call[Run]:
    return call("GET", f"{API}/runs/{segment(run_id)}", run_of,
                params={"wait_seconds": wait_seconds} if wait_seconds else None,
                read_timeout=wait_seconds + LONG_POLL_MARGIN if wait_seconds else None)


def list_runs(*, job: str | None = None, state: str | None = None, limit: int = 100,
              cursor: str | None = None, path: str = f"{API}/runs") -> Call[dict[str, Any]]:
    return call("GET", path, json_of, params={"job": job, "state": state, "limit": limit, "cursor": cursor})


def cancel_run(run_id: str) -> Call[Run]:
    return call("POST", f"{API}/runs/{segment(run_id)}/cancel", run_of)


def retry_run(run_id: str) -> Call[Run]:
    return call("POST", f"{API}/runs/{segment(run_id)}/retry", run_of)


def run_result(run_id: str) -> Call[Any]:
    return call("GET", f"{API}/runs/{segment(run_id)}/result", field("result"))


def run_attempt(run_id: str, number: int) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/runs/{segment(run_id)}/attempts/{number}", json_of)


def run_log(run_id: str, attempt: int | None = None) -> Call[str]:
    return call("GET", f"{API}/runs/{segment(run_id)}/log", text_of, params={"attempt": attempt})


def list_dead_letters(*, job: str | None = None, run: str | None = None, request: str | None = None,
                      limit: int = 100, cursor: str | None = None) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/dead-letters", json_of,
                params={"job": job, "run": run, "request": request, "limit": limit, "cursor": cursor})


# --- batches --------------------------------------------------------------------------------------

def submit_batch(*, job: str | None = None, steps: list[Any] | None = None, count: int | None = None,
                 params_list: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None,
                 conf: dict[str, Any] | None = None) -> Call[dict[str, Any]]:
    # No idempotency key for batches: retried only when the request never left (retry.py).
    return call("POST", f"{API}/batches", json_of, json=body(BatchCreate, job=job, steps=steps, count=count,
                                                               params_list=params_list, options=options, conf=conf))


def get_batch(batch_id: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/batches/{segment(batch_id)}", json_of)


# --- jobs and schedules ---------------------------------------------------------------------------

def create_job(name: str, **fields: Any) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/jobs", json_of, json=body(JobCreate, name=name, **fields))


def list_jobs() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/jobs", field("jobs"))


def get_job(job: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/jobs/{segment(job)}", json_of)


def update_job(job: str, **fields: Any) -> Call[dict[str, Any]]:
    """PATCH: only the fields given change; pass `schedule=None` explicitly … see `unset`."""
    unset = fields.pop("unset", ())
    payload = body(JobUpdate, **fields)
    payload.update(dict.fromkeys(unset))
    return call("PATCH", f"{API}/jobs/{segment(job)}", json_of, json=payload, repeatable=True)


def job_notifications(job: str, limit: int | None = None) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/jobs/{segment(job)}/notifications", json_of, params={"limit": limit})


def submit_job_run(job: str, *, params: dict[str, Any] | None = None, container: dict[str, Any] | None = None,
                   options: dict[str, Any] | None = None, priority: int | None = None,
                   conf: dict[str, Any] | None = None, idempotency_key: str | None = None) -> Call[Run]:
    key = idempotency_key or new_idempotency_key()
    return call("POST", f"{API}/jobs/{segment(job)}/runs", run_of, repeatable=True, headers={"Idempotency-Key": key},
                json=body(JobRunCreate, params=params, container=container, options=options, priority=priority,
                          conf=conf))


def pause_schedule(job: str) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/jobs/{segment(job)}/schedule/pause", json_of, repeatable=True)


def resume_schedule(job: str) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/jobs/{segment(job)}/schedule/resume", json_of, repeatable=True)


def job_ticks(job: str, limit: int = 50) -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/jobs/{segment(job)}/ticks", field("ticks"), params={"limit": limit})


def backfill(job: str, start: str, end: str, *, dry_run: bool = False) -> Call[dict[str, Any]]:
    # A tick's run is keyed by the job and the tick's time: asking twice queues nothing new.
    return call("POST", f"{API}/jobs/{segment(job)}/backfill", json_of, repeatable=True,
                json=body(Backfill, start=start, end=end, dry_run=dry_run))


def list_functions() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/functions", field("functions"))


# --- files ----------------------------------------------------------------------------------------

def files_path(remote: str) -> str:
    return f"{API}/files/" + quote(remote.lstrip("/"), safe="/")


def list_files(prefix: str = "", *, recursive: bool = False, limit: int = 500,
               cursor: str | None = None) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/files", json_of,
                params={"prefix": prefix, "recursive": recursive, "limit": limit, "cursor": cursor})


def put_file(remote: str, body: Callable[[], Any], *, size: int, overwrite: bool = False,
             checksum: str | None = None) -> Call[dict[str, Any]]:
    """An upload, streamed from `body()`; the server publishes it atomically, so sending it again is safe."""
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    if checksum:
        headers["X-Checksum-SHA256"] = checksum
    return call("PUT", files_path(remote), json_of, params={"overwrite": overwrite or None}, headers=headers,
                body=body)


def delete_file(remote: str, *, recursive: bool = False) -> Call[None]:
    return call("DELETE", files_path(remote), nothing, params={"recursive": recursive or None})


def preview_file(remote: str, *, rows: int = 20) -> Call[dict[str, Any]]:
    return call("GET", files_path(remote) + "/preview", json_of, params={"rows": rows})


# --- clusters and products ------------------------------------------------------------------------

def list_products() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/products", field("products"))


def get_product(name: str, version: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/products/{segment(name)}/{segment(version)}", json_of)


def create_product(name: str, version: str, description: str = "") -> Call[dict[str, Any]]:
    return call("POST", f"{API}/products", json_of, json={"name": name, "version": version,
                                                          "description": description})


def put_template(name: str, version: str, template: str, *, yaml: bool = False) -> Call[None]:
    return call("PUT", f"{API}/products/{segment(name)}/{segment(version)}/template", nothing,
                content=template.encode(), headers={"Content-Type": "application/yaml" if yaml else "application/json"})


def put_options(name: str, version: str, options: dict[str, Any]) -> Call[None]:
    return call("PUT", f"{API}/products/{segment(name)}/{segment(version)}/options", nothing, json=options)


def put_orchestrator(name: str, version: str, orchestrator: str) -> Call[None]:
    return call("PUT", f"{API}/products/{segment(name)}/{segment(version)}/orchestrator", nothing,
                json={"name": orchestrator})


def launch_cluster(product: str, version: str, options: dict[str, Any] | None = None) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/products/{segment(product)}/{segment(version)}/clusters", json_of,
                json=options or {})


def list_clusters(*, status: str | None = None, product: str | None = None) -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/clusters", field("clusters"), params={"status": status, "product": product})


def get_cluster(cluster_id: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/clusters/{segment(cluster_id)}", json_of)


def destroy_cluster(cluster_id: str) -> Call[dict[str, Any]]:
    return call("DELETE", f"{API}/clusters/{segment(cluster_id)}", json_of)


def cluster_nodes(cluster_id: str) -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/clusters/{segment(cluster_id)}/nodes", field("nodes"))


def repair_cluster(cluster_id: str) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/clusters/{segment(cluster_id)}/repair", json_of, repeatable=True)


def cluster_duties() -> Call[dict[str, Any]]:
    return call("GET", f"{API}/cluster-duties", json_of)


# --- Spark apps and their events ------------------------------------------------------------------

def spark_jobs() -> Call[list[str]]:
    return call("GET", f"{API}/spark/jobs", field("jobs"))


def spark_runs(job_name: str) -> Call[RunList]:
    return call("GET", f"{API}/spark/jobs/{segment(job_name)}/runs", model(RunList))


def spark_events_path(job_name: str, run_id: str) -> str:
    return f"{API}/spark/jobs/{segment(job_name)}/runs/{segment(run_id)}/events"


def spark_duration(job_name: str, run_id: str) -> Call[Duration]:
    return call("GET", f"{API}/spark/jobs/{segment(job_name)}/runs/{segment(run_id)}/duration", model(Duration))


def spark_summary(job_name: str, run_id: str) -> Call[Summary]:
    return call("GET", f"{API}/spark/jobs/{segment(job_name)}/runs/{segment(run_id)}/summary", model(Summary))


# --- webhooks, secrets, operations ----------------------------------------------------------------

def create_webhook(url: str, *, events: list[str] | None = None, secret: str | None = None,
                   description: str | None = None) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/webhooks", json_of,
                json=body(WebhookCreate, url=url, events=events, secret=secret, description=description))


def list_webhooks() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/webhooks", field("webhooks"))


def get_webhook(webhook_id: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/webhooks/{segment(webhook_id)}", json_of)


def delete_webhook(webhook_id: str) -> Call[None]:
    return call("DELETE", f"{API}/webhooks/{segment(webhook_id)}", nothing)


def create_secret(name: str, kind: str, values: dict[str, str], description: str | None = None
                  ) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/secrets", json_of,
                json=body(SecretCreate, name=name, kind=kind, values=values, description=description))


def list_secrets() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/secrets", field("secrets"))


def get_secret(name: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/secrets/{segment(name)}", json_of)


def update_secret(name: str, *, values: dict[str, str] | None = None, description: str | None = None
                  ) -> Call[dict[str, Any]]:
    return call("PUT", f"{API}/secrets/{segment(name)}", json_of,
                json=body(SecretUpdate, values=values, description=description))


def delete_secret(name: str) -> Call[None]:
    return call("DELETE", f"{API}/secrets/{segment(name)}", nothing)


def health() -> Call[dict[str, Any]]:
    return call("GET", "/healthz", json_of)


def metrics() -> Call[str]:
    return call("GET", "/metrics", text_of)


# --- a run's Spark work and progress, explain, tuning --------------------------------------------

def run_spark(run_id: str, *, attempt: int | None = None) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/runs/{segment(run_id)}/spark", json_of, params={"attempt": attempt})


def run_progress(run_id: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/runs/{segment(run_id)}/progress", json_of)


def explain(steps: list[Any] | None = None, *, job: str | None = None,
            params: dict[str, Any] | None = None) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"steps": steps, "job": job, "params": params or {}}
    # Nothing is queued: safe to send again. Spark's analysis may take a while on a cold session.
    return call("POST", f"{API}/runs/explain", json_of, json={k: v for k, v in body.items() if v is not None},
                repeatable=True, read_timeout=300.0)


def job_tuning(job: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/jobs/{segment(job)}/tuning", json_of)


# --- teams, members, tokens, the audit log --------------------------------------------------------

def me() -> Call[dict[str, Any]]:
    return call("GET", f"{API}/me", json_of)


def list_teams() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/teams", field("teams"))


def get_team(team: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/teams/{segment(team)}", json_of)


def create_team(name: str, description: str = "") -> Call[dict[str, Any]]:
    return call("POST", f"{API}/teams", json_of, json={"name": name, "description": description})


def set_quotas(team: str, *, max_running_runs: int | None = None, max_cores: int | None = None,
               max_memory_mb: int | None = None) -> Call[dict[str, Any]]:
    return call("PUT", f"{API}/teams/{segment(team)}/quotas", json_of,
                json={"max_running_runs": max_running_runs, "max_cores": max_cores, "max_memory_mb": max_memory_mb})


def list_members(team: str) -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/teams/{segment(team)}/members", field("members"))


def set_member(team: str, user: str, role: str) -> Call[dict[str, Any]]:
    return call("PUT", f"{API}/teams/{segment(team)}/members/{segment(user)}", json_of, json={"role": role})


def remove_member(team: str, user: str) -> Call[None]:
    return call("DELETE", f"{API}/teams/{segment(team)}/members/{segment(user)}", nothing)


def list_tokens() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/tokens", field("tokens"))


def create_token(name: str, user: str, scopes: list[str], role: str | None = None) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"name": name, "user": user, "scopes": scopes}
    if role is not None:
        body["role"] = role
    return call("POST", f"{API}/tokens", json_of, json=body)  # not repeatable: a second token


def revoke_token(token_id: str) -> Call[None]:
    return call("DELETE", f"{API}/tokens/{segment(token_id)}", nothing)


def audit(*, after: int = 0, limit: int = 100, actor: str | None = None, action: str | None = None,
          team: str | None = None, since: float | None = None) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/audit", json_of, params={"after": after, "limit": limit, "actor": actor,
                                                         "action": action, "team": team, "since": since})


# --- hosts ----------------------------------------------------------------------------------------

def list_hosts() -> Call[list[dict[str, Any]]]:
    return call("GET", f"{API}/hosts", field("hosts"))


def get_host(name: str) -> Call[dict[str, Any]]:
    return call("GET", f"{API}/hosts/{segment(name)}", json_of)


def add_host(body: dict[str, Any]) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/hosts", json_of, json=body)


def drain_host(name: str, *, undrain: bool = False) -> Call[dict[str, Any]]:
    return call("POST", f"{API}/hosts/{segment(name)}/{'undrain' if undrain else 'drain'}", json_of,
                repeatable=True)


def remove_host(name: str) -> Call[None]:
    return call("DELETE", f"{API}/hosts/{segment(name)}", nothing)
