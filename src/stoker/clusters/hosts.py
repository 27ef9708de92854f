"""Container hosts as the cluster duties use them: registration (the rules of core/hosts.py), drain,
removal, the health check of every host's container API, and a Docker client per host.

Stoker reaches a host only through its Docker-compatible API (Podman's `podman system service`):
no SSH, no agent of its own. The local machine's entry has no endpoint: it stands for the container
runtime and the processes of the process running the duties.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from stoker.config import Capacity
from stoker.core import hosts as rules
from stoker.core.errors import Unavailable
from stoker.store.hosts import Host, HostStore

if TYPE_CHECKING:
    import docker

    from stoker.containers.runtime import ContainerRuntime

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 3


class HostService:
    def __init__(self, store: HostStore, containers: ContainerRuntime | None = None) -> None:
        self.store = store
        self.containers = containers

    def register(self, name: str, *, endpoint: str, cores: int, mem: int, address: str | None = None) -> Host:
        rules.check_name(name)
        rules.check_endpoint(endpoint)
        rules.check_capacity(cores, mem)
        address = rules.check_address(address) if address else rules.address_of(endpoint)
        return self.store.create(name, endpoint=endpoint, address=address, cores=cores, mem=mem)

    def ensure_local(self, capacity: Capacity) -> None:
        """The local machine, registered by default (so one machine needs no set-up)."""
        self.store.ensure_local(rules.LOCAL_HOST, address=rules.LOCAL_ADDRESS, cores=capacity.cores,
                                mem=capacity.mem)

    def drain(self, name: str) -> Host:
        return self.store.set_state(name, "draining")

    def undrain(self, name: str) -> Host:
        return self.store.set_state(name, "active")

    def remove(self, name: str) -> None:
        self.store.delete(name)

    # -- health -----------------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Ask every host's container API whether it answers; record it. The hosts that stopped
        answering since the last check (their nodes are lost)."""
        lost = []
        for host in self.store.list():
            up, error = self._answers(host)
            before = self.store.record_check(host.name, up=up, error=error)
            if not up and before != "down":
                log.warning("host %s stopped answering: %s", host.name, error)
                lost.append(host.name)
            elif up and before == "down":
                log.info("host %s answers again", host.name)
        return lost

    def _answers(self, host: Host) -> tuple[bool, str | None]:
        if host.local:
            return True, None  # the machine this process runs on
        from stoker.containers.runtime import ping

        return ping(host.endpoint or "", timeout=CHECK_TIMEOUT_SECONDS)

    # -- clients ------------------------------------------------------------------------------------
    @contextmanager
    def client(self, name: str, timeout: float = 60.0) -> Iterator[docker.DockerClient]:
        """A Docker client of the host's container API (the local entry: this process's runtime)."""
        import docker

        host = self.store.get(name)
        if host.local:
            if self.containers is None:
                raise Unavailable("no container runtime on this machine")
            endpoint = self.containers.require()
        else:
            endpoint = host.endpoint or ""
        client = docker.DockerClient(base_url=endpoint, timeout=int(timeout))
        try:
            yield client
        finally:
            client.close()
