"""The rules of a container host's registration (pure): its name, its container API endpoint, the
address other hosts reach it at, its capacity. The store keeps what these rules let through."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from stoker.core.errors import InvalidInput

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
ADDRESS = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,198}[A-Za-z0-9])?$")
# The local machine's entry: the container runtime of the process itself, on loopback.
LOCAL_HOST = "local"
LOCAL_ADDRESS = "127.0.0.1"
STATES = ("active", "draining")
MIN_MEM_MB = 64


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidInput(f"host name {name!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a "
                           "letter or digit", field="name")
    return name


def check_endpoint(endpoint: str) -> str:
    """A Docker Engine API address as the docker SDK takes it: tcp://addr:port, http(s)://addr:port
    or unix:///absolute/path (a socket on the machine of the process that uses it)."""
    parts = urlsplit(endpoint)
    if parts.scheme == "unix":
        if not parts.path.startswith("/") or parts.netloc:
            raise InvalidInput(f"endpoint {endpoint!r}: a socket is unix:///absolute/path", field="endpoint")
        return endpoint
    if parts.scheme not in ("tcp", "http", "https"):
        raise InvalidInput(f"endpoint {endpoint!r}: use tcp://addr:port, http(s)://addr:port or "
                           "unix:///path/to/podman.sock (Podman's `podman system service`)", field="endpoint")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/") or parts.query or parts.username:
        raise InvalidInput(f"endpoint {endpoint!r}: give an address and a port, nothing else "
                           "(e.g. tcp://10.0.0.5:8888)", field="endpoint")
    return endpoint


def address_of(endpoint: str | None) -> str:
    """The address a host is reached at when none is given: its endpoint's (loopback for a socket)."""
    if endpoint is None:
        return LOCAL_ADDRESS
    host = urlsplit(endpoint).hostname
    return host if host else LOCAL_ADDRESS


def check_address(address: str) -> str:
    try:
        ipaddress.ip_address(address)
        return address
    except ValueError:
        pass
    if not ADDRESS.match(address):
        raise InvalidInput(f"address {address!r} is neither an IP address nor a host name", field="address")
    return address


def check_capacity(cores: int, mem: int) -> tuple[int, int]:
    if cores < 1:
        raise InvalidInput(f"cores must be at least 1 (got {cores})", field="cores")
    if mem < MIN_MEM_MB:
        raise InvalidInput(f"mem is in MB and must be at least {MIN_MEM_MB} (got {mem})", field="mem")
    return cores, mem


def api_urls(text: str) -> list[str]:
    """The API replicas a remote worker (and its Spark apps' listeners) are given, as one
    comma-separated string: each base URL trimmed of spaces and trailing slashes, in order."""
    return [u.strip().rstrip("/") for u in text.split(",") if u.strip()]
