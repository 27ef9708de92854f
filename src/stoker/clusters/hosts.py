"""Container hosts as the cluster duties use them: registration (the rules of core/hosts.py), drain,
removal, the health check of every host's container API, and a Docker client per host.

Stoker reaches a host only through its Docker-compatible API (Podman's `podman system service`):
no SSH, no agent of its own. The local machine's entry has no endpoint: it stands for the container
runtime and the processes of the process running the duties.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from stoker.config import Capacity
from stoker.core import hosts as rules
from stoker.core.errors import Unavailable
from stoker.store.hosts import Host, HostStore

if TYPE_CHECKING:
    import docker

    from stoker.containers.runtime import ContainerRuntime

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 5


class HostService:
    def __init__(self, store: HostStore, containers: ContainerRuntime | None = None, *,
                 down_after: float = 10.0) -> None:
        self.store = store
        self.containers = containers
        self.down_after = down_after  # seconds of failed checks before a host is down

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
            change = self.store.record_check(host.name, up=up, error=error, down_after=self.down_after)
            if change is None:
                continue
            before, after = change
            if after == "down" and before != "down":
                log.warning("host %s stopped answering: %s", host.name, error)
                lost.append(host.name)
            elif after == "up" and before == "down":
                log.info("host %s answers again", host.name)
        return lost

    def _answers(self, host: Host) -> tuple[bool, str | None]:
        if host.local:
            return True, None  # the machine this process runs on
        from stoker.containers.runtime import ping

        return ping(host.endpoint or "", timeout=CHECK_TIMEOUT_SECONDS)

    # -- clients ------------------------------------------------------------------------------------
    def endpoint(self, name: str | None) -> str:
        """The Docker Engine API address of a host (the local entry, or none: this process's runtime)."""
        host = self.store.get(name) if name is not None else None
        if host is None or host.local:
            if self.containers is None:
                raise Unavailable("no container runtime on this machine")
            return self.containers.require()
        return host.endpoint or ""

    def docker_client(self, name: str | None, timeout: float = 60.0) -> docker.DockerClient:
        """A Docker client of the host's container API; the caller closes it."""
        import docker

        endpoint = self.endpoint(name)
        socket = endpoint.removeprefix("unix://")
        if socket != endpoint and not os.path.exists(socket):
            # (Asked anyway, the docker SDK would leak the socket of its failed connect.)
            raise Unavailable(f"host {name}: its container API socket {socket} does not exist")
        return docker.DockerClient(base_url=endpoint, timeout=int(timeout))

    def answering_endpoints(self) -> list[str]:
        """The container APIs of the registered hosts (not the local one) not known to be down."""
        return [h.endpoint for h in self.store.list() if h.endpoint and h.health != "down"]

    def down(self) -> set[str]:
        """The hosts the last check found not answering."""
        return {h.name for h in self.store.list() if h.health == "down"}

    def unsure(self) -> set[str]:
        """Hosts failing their checks, not (yet) long enough to be down: nothing is concluded about
        what runs there, and they are not asked."""
        return {h.name for h in self.store.list() if h.failing_since is not None and h.health != "down"}
