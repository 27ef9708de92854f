"""Hosts as Linux network namespaces for the tests (tests/e2e/test_hosts_netns.py): a bridge the test
creates, one namespace per host with its own address on it, and a private tmpfs per host over its
data directory, so no host reads another's files. Every process of a host runs under
`nsenter --net`; killing a host kills every process in its network namespace. Traffic goes only to the
addresses made here; everything is deleted at the end, also when the test fails."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import IN_CI


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def require_netns() -> None:
    """Skip where namespaces cannot be made (not root, no iproute2); fail under CI=true."""
    why = None
    if os.geteuid() != 0:
        why = "network namespaces need root"
    elif not all(shutil.which(tool) for tool in ("ip", "unshare", "nsenter")):
        why = "iproute2 / util-linux are not installed (`make setup` installs them)"
    else:
        probe = f"stkprobe{os.getpid()}"
        made = _ip("netns", "add", probe, check=False)
        _ip("netns", "del", probe, check=False)
        if made.returncode != 0:
            why = f"ip netns add failed: {made.stderr.strip()}"
    if why is not None:
        if IN_CI:
            pytest.fail(why + " (CI=true: this test must run)")
        pytest.skip(why)


class Net:
    """A bridge with an address of its own (the test process reaches the hosts through it) and the
    hosts on it, named after the test's own tag."""

    def __init__(self, subnet: str) -> None:
        self.subnet = subnet  # e.g. "10.213.77": hosts get .11, .12 …; the bridge .1
        self.tag = uuid.uuid4().hex[:6]
        self.bridge = f"stkbr{self.tag}"
        self.hosts: dict[str, str] = {}  # name → namespace
        self.addresses: dict[str, str] = {}
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_host(self, name: str, last_octet: int) -> str:
        ns = f"stk{self.tag}-{name}"
        veth = f"v{self.tag}{last_octet}"
        _ip("netns", "add", ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        _ip("link", "set", f"{veth}p", "netns", ns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        address = f"{self.subnet}.{last_octet}"
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", f"{veth}p")
        _ip("-n", ns, "link", "set", f"{veth}p", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[name] = ns
        self.addresses[name] = address
        return address

    def spawn(self, host: str, argv: list[str], *, env: dict[str, str], log: Path,
              private: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a process on a host; with `private`, a tmpfs over that directory that only this
        process (and its children) see."""
        # nsenter, not `ip netns exec`: that one mounts a sysfs of its own, which hides the cgroup
        # mounts runc needs for a container.
        prefix = ["nsenter", f"--net=/var/run/netns/{self.hosts[host]}"]
        if private is not None:
            private.mkdir(parents=True, exist_ok=True)
            prefix += ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       'mount -t tmpfs tmpfs "$0" && exec "$@"', str(private)]
        with open(log, "ab") as out:
            proc = subprocess.Popen([*prefix, *argv], env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.setdefault(host, []).append(proc)
        return proc

    def kill_host(self, host: str) -> None:
        """SIGKILL every process in the host's namespace, as when the machine dies."""
        for _ in range(3):  # a dying parent may still fork; sweep until nothing is left
            pids = _ip("netns", "pids", self.hosts[host], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not pids:
                break
            time.sleep(0.2)
        for proc in self.procs.get(host, []):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        for host in list(self.hosts):
            self.kill_host(host)
            _ip("netns", "del", self.hosts[host], check=False)
        _ip("link", "del", self.bridge, check=False)
