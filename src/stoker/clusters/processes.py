"""Node processes: started in their own session (so they outlive a restart of Stoker and can be
stopped as one process group), recognised later by pid + start time, stopped group-wide."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path) -> tuple[int, float]:
    """Start a process in a new session; (pid, its start time as the kernel records it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc.pid, started_at(proc.pid) or time.time()


def started_at(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def alive(pid: int | None, pid_started_at: float | None) -> bool:
    """The recorded process still runs: same pid *and* same start time (a recycled pid is not it)."""
    if pid is None:
        return False
    _reap(pid)
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return pid_started_at is None or abs(created - pid_started_at) < 1.0


def _reap(pid: int) -> None:
    """Collect the exit status of a node this process started, so it does not stay a zombie (a
    node started by an earlier Stoker process is not our child: nothing to do)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_group(pid: int | None, pid_started_at: float | None, *, grace: float = 10.0) -> None:
    """SIGTERM the node's process group (the JVM and anything it forked, e.g. executors), then
    SIGKILL what is left after `grace` seconds. The group is the session the node was started in."""
    if pid is None:
        return
    if alive(pid, pid_started_at):
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_members(pid):
        time.sleep(0.05)
        _reap(pid)
    if _group_members(pid):
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _group_members(pid):
            time.sleep(0.05)
            _reap(pid)
    _reap(pid)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the group: the node JVM or what it started (an executor may
    outlive a killed worker)."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.info["pid"]) == pgid:
                members.append(proc.info["pid"])
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return members


def group_alive(pgid: int | None) -> bool:
    return pgid is not None and bool(_group_members(pgid))


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16_384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
