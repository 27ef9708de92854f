"""A worker that holds only an API token: `stoker worker --remote URL`.

It claims, heartbeats and finishes over the lease protocol of `/api/v1/worker` (DESIGN.md: remote
workers never hold database credentials) and runs attempts with the same loop and executors as any
worker. Its token needs the `worker` scope, and `ingest` too if its Spark apps are to send their
listener events to Stoker. Paths in pipelines resolve on the worker's machine (its data dir's
`files`, or `STOKER_STORAGE_ROOTS`): give it the same shared storage, or use `s3a://`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
import msgspec

from stoker.config import Settings
from stoker.core.attempts import Claimed
from stoker.core.errors import Fenced
from stoker.core.hosts import api_urls
from stoker.core.secret_refs import Resolved
from stoker.core.secrets import split_secrets
from stoker.executors.base import SparkTarget
from stoker.store.notify import Wakeup
from stoker.store.queue import Ending, Lease
from stoker.store.records.clusters import SparkPlacement
from stoker.worker.targets import cluster_of, target_of

log = logging.getLogger(__name__)

CLAIM_WAIT_SECONDS = 5.0  # the server holds an empty claim this long: work starts as it arrives
FINISH_RETRY_SECONDS = 30.0


class HttpBackend:
    """`url`: one API, or several replicas separated by commas: a request that cannot reach the
    current one (connection refused, no route, the connection cut) goes to the next, and the worker
    stays there (docs/deploy.md)."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 claim_wait_seconds: float = CLAIM_WAIT_SECONDS) -> None:
        self.urls = api_urls(url)
        self.claim_wait_seconds = claim_wait_seconds
        self._clients = [httpx.Client(base_url=u, timeout=timeout + claim_wait_seconds,
                                      headers={"Authorization": f"Bearer {token}"}) for u in self.urls]
        self._current = 0  # the replica requests go to
        self._lock = threading.Lock()
        self._secrets: dict[str, Resolved] = {}  # attempt id -> its secrets, as the claim answer gave them
        self._run_of: dict[str, str] = {}  # attempt id -> run id, while the attempt is held
        self._cancel: set[str] = set()  # run ids the last heartbeats said to cancel
        self._clusters: dict[str, SparkPlacement | None] = {}  # attempt id -> its run's cluster record

    @property
    def url(self) -> str:
        return self.urls[self._current]

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def _send(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST to the current replica; one that cannot be reached hands over to the next (each
        tried once); the last one's error when none answers."""
        start = self._current
        for step in range(len(self._clients)):
            index = (start + step) % len(self._clients)
            try:
                response = self._clients[index].post(path, json=body)
            except httpx.TransportError:
                if step == len(self._clients) - 1:
                    raise
                log.warning("the API at %s cannot be reached; trying %s", self.urls[index],
                            self.urls[(index + 1) % len(self.urls)])
                continue
            self._current = index
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def claim(self, worker_id: str, *, lane_limits: Mapping[str, int], lease_seconds: float,
              executor_by_lane: Mapping[str, str], own_runtime: bool = True) -> list[Claimed]:
        # The server maps the instant lane to the inline executor itself (`executor_by_lane`).
        lanes = {lane: n for lane, n in lane_limits.items() if n > 0}
        answer = self._post("/api/v1/worker/claim", {
            "worker_id": worker_id, "lanes": lanes, "lease_seconds": lease_seconds,
            "wait_seconds": self.claim_wait_seconds, "own_runtime": own_runtime})
        return [self._claimed(view) for view in answer["attempts"]]

    def heartbeat(self, attempt_ids: Sequence[str], *, lease_seconds: float) -> dict[str, Lease]:
        leases: dict[str, Lease] = {}
        for attempt_id in attempt_ids:
            response = self._send(f"/api/v1/attempts/{attempt_id}/heartbeat", {"lease_seconds": lease_seconds})
            if response.status_code == 409:
                continue  # fenced: the worker stops the attempt
            response.raise_for_status()
            body = response.json()
            leases[attempt_id] = Lease(attempt_id, _epoch(body["lease_expires_at"]),
                                       bool(body["cancel_requested"]))
        # Cancel requests reach a remote worker with its heartbeats (every heartbeat_seconds).
        with self._lock:
            self._cancel = {self._run_of[a] for a, lease in leases.items()
                            if lease.cancel_requested and a in self._run_of}
        return leases

    def finish(self, ending: Ending) -> str:
        response = self._send_retrying(f"/api/v1/attempts/{ending.attempt_id}/finish",
                                       _finish_body(ending))
        self._forget(ending.attempt_id)
        if response.status_code == 409:
            raise Fenced(response.json().get("detail", "the attempt no longer holds its lease"),
                         attempt_id=ending.attempt_id)
        response.raise_for_status()
        return str(response.json()["run_state"])

    def finish_many(self, endings: Sequence[Ending]) -> dict[str, str]:
        states: dict[str, str] = {}
        for start in range(0, len(endings), 1000):
            chunk = endings[start:start + 1000]
            response = self._send_retrying("/api/v1/worker/finish", {
                "endings": [{"attempt_id": e.attempt_id, **_finish_body(e)} for e in chunk]})
            response.raise_for_status()
            states.update(response.json()["run_states"])
            for ending in chunk:
                self._forget(ending.attempt_id)
        return states

    def annotate(self, attempt_id: str, **fields: Any) -> None:
        known = {k: v for k, v in fields.items() if k in ("spark_app_id", "spark_job_group", "executor", "conf")}
        if known:
            self._send(f"/api/v1/attempts/{attempt_id}/annotate", known).raise_for_status()

    def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return self._cancel.intersection(run_ids)

    def secrets_of(self, claimed: Claimed) -> Resolved:
        with self._lock:
            return self._secrets.get(claimed.attempt_id) or Resolved(steps=claimed.steps)

    def idle_seconds(self) -> float:
        return 0.0  # the claim itself waited on the server

    # -- helpers --------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._send(path, body)
        response.raise_for_status()
        return response.json()

    def _send_retrying(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST an outcome, retrying while the API is unreachable or failing (5xx): a result is
        worth a few seconds; past FINISH_RETRY_SECONDS the lease expires and the run is re-queued
        anyway. A report that did arrive before its answer was lost comes back 409 (fenced)."""
        deadline = time.monotonic() + FINISH_RETRY_SECONDS
        delay = 0.5
        while True:
            try:
                response = self._send(path, body)
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise RuntimeError(f"could not report to {self.url}{path}: {problem}")
            log.warning("reporting to %s failed (%s); retrying in %.1f s", path, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _claimed(self, view: dict[str, Any]) -> Claimed:
        # The server resolved the attempt's secrets as it claimed it (over HTTPS in production): the
        # options carry their values, the steps their `{{secrets/…}}` filled in, `redact` the values
        # to hide. They are split again, and kept in memory only until the attempt ends.
        options, secrets = split_secrets(view.get("options") or {})
        with self._lock:
            self._run_of[view["attempt_id"]] = view["run_id"]
            if secrets or view.get("redact"):
                self._secrets[view["attempt_id"]] = Resolved(sections=secrets, steps=view["steps"],
                                                             values=list(view.get("redact") or []))
            if "cluster" in view:
                found = view["cluster"]  # checked as it is read: a field missing is an error here
                self._clusters[view["attempt_id"]] = (msgspec.convert(found, SparkPlacement)
                                                      if found is not None else None)
        return Claimed(
            attempt_id=view["attempt_id"], run_id=view["run_id"], number=view["number"],
            job_id="", job_name=view["job"], mode=view["mode"],
            lane=view["lane"], steps=view["steps"], params=view.get("params") or {}, options=options,
            secrets=None, timeout_seconds=view.get("timeout_seconds"),
            lease_expires_at=_epoch(view["lease_expires_at"]), conf=view.get("conf") or {},
            team=view.get("team") or "default", host=view.get("host"), host_endpoint=view.get("host_endpoint"),
            earlier_host_endpoint=view.get("earlier_host_endpoint"))

    def target_of(self, claimed: Claimed) -> SparkTarget | None:
        """The Spark master of a run on a cluster, from the cluster record the server sent with the
        claim (checked as a worker with database access checks it: worker/targets.py)."""
        cluster_id = cluster_of(claimed)
        if cluster_id is None:
            return None
        with self._lock:
            found = self._clusters.get(claimed.attempt_id)
        return target_of(cluster_id, found)

    def _forget(self, attempt_id: str) -> None:
        with self._lock:
            self._secrets.pop(attempt_id, None)
            self._run_of.pop(attempt_id, None)
            self._clusters.pop(attempt_id, None)


def _finish_body(ending: Ending) -> dict[str, Any]:
    return {"outcome": ending.outcome.value, "result": ending.result, "error": ending.error,
            "log": ending.log, "permanent": ending.permanent}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def remote_worker(settings: Settings, url: str, token: str, *, worker_id: str | None = None,  # type: ignore[no-untyped-def]
                  docker_host: str | None = None):
    """A Worker on this machine's Spark (and container runtime at `docker_host`, if any), leasing its
    attempts from the Stoker at `url`."""
    from stoker.catalog import StorageRoots, load_catalog
    from stoker.worker.loop import Worker, build_executors, listener_for

    settings.storage_root.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog()
    roots = StorageRoots(settings.storage_root, settings.storage_roots, teams_dir=settings.data_dir / "teams")
    # Its Spark apps report their events to the same Stoker, with this worker's token: to the replicas
    # it leases from, in the same order (the listener fails over as the lease protocol does).
    executors = build_executors(settings, catalog, roots, listener_for(url, token, settings.data_dir),
                                docker_host=docker_host)
    backend = HttpBackend(url, token)
    return Worker(backend, executors, settings=settings, catalog=catalog,
                  wakeup=Wakeup(), worker_id=worker_id, concurrency=settings.worker_concurrency,
                  container_concurrency=settings.container_concurrency, targets=backend.target_of)
