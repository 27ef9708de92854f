"""Where container jobs run: a Docker Engine API endpoint (Docker or Podman), or nowhere, and why.

`STOKER_DOCKER_HOST` names any Docker or Podman API socket. When it is unset, `stoker serve` (and
`stoker worker`) start a private Podman API service (`podman system service --time=0`) on a socket
of their own, with the containers.conf these machines need, and stop it on exit. Where neither can
be had, the runtime says why, and container jobs are refused at submit (503) while everything else
works.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from stoker.core.errors import Unavailable
from stoker.core.periodic import Periodic

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 20.0
WATCH_SECONDS = 2.0  # how often serve checks that its private Podman service still runs (a poll(), no I/O)
# A unix socket path must fit in 108 bytes; a longer data dir gets its socket in a temp dir.
MAX_SOCKET_PATH = 100


def conf_path() -> Path:
    """The packaged containers.conf (ulimits, runc, cgroupfs, file events logger)."""
    with resources.as_file(resources.files("stoker.containers") / "containers.conf") as path:
        return Path(path)


def podman_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment podman runs with here: our containers.conf unless the caller set one."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(conf_path()))
    env.update(extra or {})
    return env


class PodmanService:
    """A private `podman system service` on a unix socket; stopped with `stop()` (or when its parent
    dies: it gets SIGTERM then, so a killed server leaves no service behind)."""

    def __init__(self, socket_dir: Path, *, podman: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.podman = podman or ["podman"]
        self.env = env or {}
        self._own_dir: str | None = None
        # One socket per process: a server and a worker may share a data dir.
        socket = socket_dir / f"podman-{os.getpid()}.sock"
        if len(str(socket.resolve())) > MAX_SOCKET_PATH:
            self._own_dir = tempfile.mkdtemp(prefix="stoker-podman-")
            socket = Path(self._own_dir, "podman.sock")
        self.socket = socket.resolve()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> str:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        self.proc = subprocess.Popen(
            [*self.podman, "system", "service", "--time=0", self.docker_host],
            # Its own directory as working directory: conmon writes an `oom` marker file into it
            # when a container is killed for memory (it would land in our caller's directory).
            cwd=self.socket.parent,
            env=podman_env(self.env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"podman system service exited ({self.proc.returncode}): "
                                   f"{stderr.strip()[-500:]}")
            if self.socket.exists() and _pings(self.docker_host):
                return self.docker_host
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"podman system service did not answer on {self.socket} within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)


class ContainerRuntime:
    """The Docker Engine API endpoint of this process, or the reason there is none."""

    def __init__(self, docker_host: str | None, reason: str | None = None) -> None:
        self.docker_host = docker_host
        self.reason = reason or ("no container runtime: set STOKER_DOCKER_HOST to a Docker or Podman "
                                 "API socket, or run `stoker serve`, which starts Podman")
        self._service: PodmanService | None = None

    @property
    def available(self) -> bool:
        return self.docker_host is not None

    def require(self) -> str:
        """The API address, or a 503 saying why container jobs cannot run here."""
        if self.docker_host is None:
            raise Unavailable(f"container jobs cannot run: {self.reason}")
        return self.docker_host

    def start_private(self, data_dir: Path) -> None:
        """Start a private Podman API service unless an endpoint is already known. Never raises:
        a machine without Podman keeps working, with container jobs refused."""
        if self.docker_host is not None:
            return
        if shutil.which("podman") is None:
            self.reason = ("no container runtime: Podman is not installed (`make setup` installs it as "
                           "root) and STOKER_DOCKER_HOST is unset")
            log.warning("container jobs are disabled: %s", self.reason)
            return
        service = PodmanService(data_dir / "containers")
        try:
            self.docker_host = service.start()
        except (OSError, RuntimeError) as exc:
            self.reason = f"no container runtime: the private Podman API service did not start: {exc}"
            log.warning("container jobs are disabled: %s", self.reason)
            return
        self._service = service
        log.info("container jobs run on a private Podman API service at %s", self.docker_host)
        try:
            from stoker.containers.image import ensure_builtin_image, podman_command

            log.info("containers: %s", ensure_builtin_image(podman_command()))
        except (OSError, subprocess.CalledProcessError) as exc:
            log.warning("the built-in image could not be built: %s", exc)

    def revive(self) -> bool:
        """Start the private Podman service again, on the same socket, if it died (killed, crashed,
        OOM): clients and workers keep their address and reconnect. True when it was restarted."""
        service = self._service
        if service is None or service.alive():
            return False
        code = service.proc.returncode if service.proc is not None else None
        log.warning("the private Podman API service exited (%s); starting it again", code)
        service.stop()  # its socket and pipes
        service.start()
        log.info("the private Podman API service is back at %s", self.docker_host)
        return True

    def watchdog(self, interval_seconds: float = WATCH_SECONDS) -> Periodic:
        """The duty that keeps the private service running (a no-op with STOKER_DOCKER_HOST)."""
        return Periodic("podman-watchdog", lambda: interval_seconds, self.revive)

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop()
            self._service = None
            self.docker_host = None

    def client(self, timeout: float = 60.0) -> docker.DockerClient:
        import docker

        return docker.DockerClient(base_url=self.require(), timeout=int(timeout))

    def connected(self, timeout: float = 60.0) -> contextlib.AbstractContextManager[docker.DockerClient]:
        return connected(self.require(), timeout)


@contextlib.contextmanager
def connected(docker_host: str, timeout: float = 60.0) -> Iterator[docker.DockerClient]:
    """A Docker client of the API at `docker_host`, closed when the block ends."""
    import docker

    client = docker.DockerClient(base_url=docker_host, timeout=int(timeout))
    try:
        yield client
    finally:
        client.close()


def _pings(docker_host: str) -> bool:
    return ping(docker_host)[0]


def ping(docker_host: str, timeout: float = 2.0) -> tuple[bool, str | None]:
    """Whether a Docker Engine API answers `/_ping`; when not, what went wrong. A plain request on a
    socket closed whatever happens (the docker SDK and httpcore both leak the unix socket of a
    failed connect)."""
    parts = urlsplit(docker_host)
    try:
        if parts.scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(parts.path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
                status_line = sock.makefile("rb").readline(200).decode("latin-1").strip()
        else:
            with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=timeout) as raw, \
                    (ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
                     if parts.scheme == "https" else contextlib.nullcontext(raw)) as sock:
                sock.sendall(f"GET /_ping HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
                status_line = sock.makefile("rb").readline(200).decode("latin-1").strip()
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"[:500]
    if status_line.split(" ")[1:2] != ["200"]:
        return False, f"/_ping answered {status_line[:200]!r}"
    return True, None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass
