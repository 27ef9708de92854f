"""The cluster duties of a `stoker serve` process: check every host's container API, reconcile
(Stoker may have been killed while clusters ran), carry out repairs asked for, and schedule — on a
timer and whenever a launch or destroy changes something.

Several replicas may share one database; the duties then run in only one of them, the holder of
the `cluster-duties` lease (store/leases.py). The holder renews it every third of its lifetime;
when it stops cleanly it gives it up, when it dies the lease expires and another replica takes
over, starting with a reconcile. A holder recorded from this host whose process is gone (a
`kill -9` and a restart) is taken over at once rather than after the expiry.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

import psutil

from stoker.clusters.service import ClusterService
from stoker.store.leases import LeaseStore

log = logging.getLogger(__name__)

LEASE = "cluster-duties"


def new_holder() -> str:
    """host/pid/random: unique per duties object, and telling whether its process still lives."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def holder_host_pid(holder: str) -> tuple[str, int | None]:
    """The host and process id a holder made by `new_holder` names (None: not a process id)."""
    host, _, rest = holder.partition("/")
    pid = rest.partition("/")[0]
    return host, int(pid) if pid.isdigit() else None


def gone_here(holder: str) -> bool:
    """The holder ran on this host and its process is no more."""
    host, pid = holder_host_pid(holder)
    return host == socket.gethostname() and pid is not None and pid != os.getpid() and \
        not psutil.pid_exists(pid)


class ClusterDuties:
    def __init__(self, service: ClusterService, *, holder: str | None = None) -> None:
        self.service = service
        self.leases = LeaseStore(service.store.db)
        self.holder = holder or new_holder()
        self.leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stoker-clusters", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.service.changed.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.leading:
            try:
                self.leases.release(LEASE, self.holder)
            except Exception:  # the database may be away: the lease then expires
                log.warning("could not give up the cluster-duties lease", exc_info=True)
            self.leading = False

    def lead(self) -> bool:
        """Take or renew the lease; True while this process runs the duties."""
        ttl = self.service.settings.lease_seconds
        try:
            held = self.leases.hold(LEASE, self.holder, ttl)
            if not held:
                current = self.leases.get(LEASE)
                if current is not None and gone_here(current.holder):
                    held = self.leases.hold(LEASE, self.holder, ttl, take_from=current.holder)
        except Exception:
            log.warning("the cluster-duties lease could not be renewed; pausing the duties", exc_info=True)
            held = False
        if held != self.leading:
            if held:
                log.info("this process (%s) now runs the cluster duties", self.holder)
            else:
                log.warning("another process holds the cluster-duties lease; this one (%s) stops "
                            "running them", self.holder)
            self.leading = held
        self.service.leading = held
        return held

    def _run(self) -> None:
        settings = self.service.settings
        every = min(settings.reconcile_seconds, settings.lease_seconds / 3)
        while not self._stop.is_set():
            self.service.changed.clear()
            if self.lead():
                for duty in (self.service.check_hosts, self.service.reconcile, self.service.stop_destroyed_nodes,
                             self.service.run_repairs, self.service.schedule, self.service.store.release_parked):
                    if self._stop.is_set():
                        break
                    try:
                        duty()
                    except Exception:
                        log.exception("cluster duty %s failed; trying again", getattr(duty, "__name__", duty))
            self.service.changed.wait(every)
