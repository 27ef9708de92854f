"""Importing a container job's image: pulled through the Docker Engine API in the background.

SUBMITTED → IMPORTING → READY (with the image's digest) | ERROR (with the registry's words). An
image the runtime already has is READY at registration, with no pull. A process that dies
mid-import leaves its jobs IMPORTING; `resume()` (called at start) imports them again.

An API replica on a machine without a container runtime of its own (docs/deploy.md) imports through
a registered container host's API instead: the image is checked and pulled there, and each other
host pulls it from the registry when a run is placed on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from stoker.containers.runtime import ContainerRuntime, connected
from stoker.core.container_spec import check_registry
from stoker.core.errors import InvalidInput, Unavailable
from stoker.store.containers import ContainerStore
from stoker.store.records.containers import ContainerJob

log = logging.getLogger(__name__)

PULL_TIMEOUT_SECONDS = 600.0
MAX_PARALLEL_PULLS = 2


class ImageImporter:
    def __init__(self, store: ContainerStore, runtime: ContainerRuntime, *,
                 allowed_registries: tuple[str, ...] = (),
                 elsewhere: Callable[[], list[str]] = list) -> None:
        self.store = store
        self.runtime = runtime
        self.elsewhere = elsewhere  # the registered container hosts' APIs that answer
        self.allowed_registries = allowed_registries  # empty: any
        self._slots = threading.BoundedSemaphore(MAX_PARALLEL_PULLS)
        self._threads: list[threading.Thread] = []

    def require(self) -> str:
        """The container API images are imported through: this process's runtime, else a registered
        container host that answers; a 503 saying why when there is neither."""
        if self.runtime.available:
            return self.runtime.require()
        hosts = self.elsewhere()
        if hosts:
            return hosts[0]
        raise Unavailable(f"container jobs cannot run: {self.runtime.reason}; or register a container "
                          "host (POST /api/v1/hosts)")

    def register(self, name: str, spec: dict[str, Any], *, repository: str | None = None,
                 **policy: Any) -> ContainerJob:
        """Create a container job: READY at once when the runtime has its image, else SUBMITTED and
        pulled in the background. Refused (503) where there is no runtime; nothing is written then."""
        check_registry(spec["image"], self.allowed_registries)
        digest = self.local_digest(spec["image"])
        job = self.store.create(name, spec, status="READY" if digest else "SUBMITTED",
                                image_digest=digest, repository=repository, **policy)
        if digest is None:
            self.start(job.id, spec["image"])
        return job

    def local_digest(self, image: str) -> str | None:
        """The digest of `image` when the runtime has it already (None: it must be pulled)."""
        import docker.errors
        import requests

        endpoint = self.require()
        try:
            with connected(endpoint, timeout=30) as client:
                try:
                    return digest_of(client.images.get(image).attrs)
                except docker.errors.ImageNotFound:
                    return None
                except docker.errors.APIError as exc:
                    if exc.status_code == 404:
                        return None
                    raise InvalidInput(f"image {image!r}: {exc.explanation or exc}") from exc
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise Unavailable(f"the container runtime at {endpoint} does not answer: "
                              f"{exc}") from exc

    def start(self, job_id: str, image: str) -> None:
        """Pull in the background; the job's status tells how it went."""
        thread = threading.Thread(target=self._import, args=(job_id, image), daemon=True,
                                  name=f"stoker-import-{job_id[:8]}")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def resume(self) -> int:
        """Start the imports that a dead process left unfinished."""
        if not self.runtime.available and not self.elsewhere():
            return 0
        pending = self.store.pending_imports()
        for job in pending:
            self.start(job.id, job.spec["image"])
        return len(pending)

    def join(self, timeout: float = 10.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _import(self, job_id: str, image: str) -> None:
        with self._slots:
            try:
                self.store.set_status(job_id, "IMPORTING")
                digest = self.pull(image)
            except Exception as exc:  # the registry's (or runtime's) words become the task's error
                log.warning("import of %s failed: %s", image, exc)
                self.store.set_status(job_id, "ERROR", error=pull_error(exc))
                return
            self.store.set_status(job_id, "READY", image_digest=digest)

    def pull(self, image: str) -> str | None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(image)
        if tag and tag.startswith("sha256:"):  # repo@sha256:… pulls by digest
            repository, tag = image, None
        with connected(self.require(), timeout=PULL_TIMEOUT_SECONDS) as client:
            pulled = client.images.pull(repository, tag=tag or "latest")
            return digest_of(pulled.attrs)


def digest_of(attrs: dict[str, Any]) -> str | None:
    """The registry digest (sha256:…) when the image came from one, else its local id."""
    digests = attrs.get("RepoDigests") or []
    if digests:
        return str(digests[0]).split("@", 1)[-1]
    return attrs.get("Id")


def pull_error(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip() or type(exc).__name__
    return text[:2000]
