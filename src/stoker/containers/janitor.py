"""The janitor: removes containers whose attempt has ended, so none is ever left behind.

An attempt's container is removed by its executor when the attempt ends. A worker that dies leaves
its container running; the next attempt of the run removes it (found by its run label), but a run
that is not tried again (cancelled, out of attempts) would keep it. This duty of `stoker serve`
looks at the containers carrying Stoker's labels on its runtime, and on every registered host that
answers (container runs are placed there: docs/hosts.md), every `interval` seconds and removes
those whose attempt no longer holds its lease.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from stoker.containers.runtime import ContainerRuntime
from stoker.core.periodic import Periodic
from stoker.store.containers import ContainerStore

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

LABEL_ATTEMPT = "io.stoker.attempt"  # as set by executors/container.py


class ContainerJanitor(Periodic):
    def __init__(self, store: ContainerStore, runtime: ContainerRuntime, *, interval: float = 30.0,
                 hosts: Callable[[], list[str]] = list) -> None:
        super().__init__("container-janitor", lambda: interval, self.sweep_once)
        self.store = store
        self.runtime = runtime
        self.hosts = hosts  # the container APIs of the registered hosts that answer

    def sweep_once(self) -> int:
        """Remove the containers of ended attempts; returns how many."""
        import docker.errors
        import requests

        removed = 0
        for where, client in self._clients():
            try:
                with contextlib.closing(client):
                    labelled = client.containers.list(all=True, filters={"label": LABEL_ATTEMPT})
                    by_attempt = {c.labels[LABEL_ATTEMPT]: c for c in labelled if c.labels.get(LABEL_ATTEMPT)}
                    ended = self.store.ended_attempts(list(by_attempt))
                    for attempt_id in ended:
                        with contextlib.suppress(docker.errors.NotFound):
                            by_attempt[attempt_id].remove(force=True)
            except (requests.exceptions.RequestException, docker.errors.APIError) as exc:
                log.info("container janitor: %s did not answer (%s)", where, exc)
                continue
            if ended:
                log.warning("removed %d container(s) of ended attempts on %s", len(ended), where)
            removed += len(ended)
        return removed

    def _clients(self) -> Iterator[tuple[str, docker.DockerClient]]:
        import docker

        if self.runtime.available:
            yield "this machine's runtime", self.runtime.client(timeout=30)
        for endpoint in self.hosts():
            yield endpoint, docker.DockerClient(base_url=endpoint, timeout=30)
