"""`stoker hosts list|show|add|drain|undrain|remove`: the container hosts (docs/hosts.md) through the
API."""

from __future__ import annotations

from typing import Any

import click

from stoker.cli import API_TOKEN, API_URL
from stoker.cli.remote import JSON, show
from stoker.cli.remote import request as _request


def host_line(host: dict[str, Any]) -> str:
    state = host["state"] + ("" if host["health"] == "up" else f", {host['health']}")
    free, used = host["free"], host["used"]
    clusters = sorted({n["cluster_id"][:8] for n in host["nodes"]})
    return (f"{host['name']:<16} {host['endpoint'] or '(this machine)':<28} {host['address']:<15} {state:<17} "
            f"cores {used['cores']}/{host['cores']} (free {free['cores']})  mem {used['mem']}/{host['mem']} MB  "
            f"nodes: {len(host['nodes'])}" + (f" of {', '.join(clusters)}" if clusters else ""))


@click.group()
def hosts() -> None:
    """Container hosts: the machines that run cluster nodes and container tasks."""


@hosts.command("list")
@JSON
@API_URL
@API_TOKEN
def list_hosts(as_json: bool, url: str | None, token: str | None) -> None:
    """Each host: endpoint, address, state and health, capacity used and free, its nodes."""
    found = _request(url, token, "GET", "/api/v1/hosts")["hosts"]
    if as_json:
        show(found, True)
        return
    if not found:
        click.echo("no hosts")
    for host in found:
        click.echo(host_line(host))


@hosts.command("show")
@click.argument("name")
@JSON
@API_URL
@API_TOKEN
def show_host(name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """One host as JSON, with the nodes placed on it."""
    show(_request(url, token, "GET", f"/api/v1/hosts/{name}"), True)


@hosts.command("add")
@click.argument("name")
@click.option("--endpoint", required=True, help="its container API, e.g. tcp://10.0.0.5:8888 "
                                                "(`podman system service --time=0 tcp:10.0.0.5:8888` there)")
@click.option("--cores", type=int, required=True)
@click.option("--mem", type=int, required=True, help="MB")
@click.option("--address", default=None, help="where other hosts reach it (default: the endpoint's)")
@JSON
@API_URL
@API_TOKEN
def add_host(name: str, endpoint: str, cores: int, mem: int, address: str | None, as_json: bool, url: str | None,
             token: str | None) -> None:
    """Register a host."""
    body: dict[str, Any] = {"name": name, "endpoint": endpoint, "cores": cores, "mem": mem}
    if address:
        body["address"] = address
    host = _request(url, token, "POST", "/api/v1/hosts", json=body)
    show(host, as_json, lambda: click.echo(host_line(host)))


@hosts.command("drain")
@click.argument("name")
@JSON
@API_URL
@API_TOKEN
def drain_host(name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Place nothing new on the host; what runs there stays."""
    host = _request(url, token, "POST", f"/api/v1/hosts/{name}/drain")
    show(host, as_json, lambda: click.echo(host_line(host)))


@hosts.command("undrain")
@click.argument("name")
@JSON
@API_URL
@API_TOKEN
def undrain_host(name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Let the host take new nodes and tasks again."""
    host = _request(url, token, "POST", f"/api/v1/hosts/{name}/undrain")
    show(host, as_json, lambda: click.echo(host_line(host)))


@hosts.command("remove")
@click.argument("name")
@JSON
@API_URL
@API_TOKEN
def remove_host(name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Remove a host nothing runs on."""
    _request(url, token, "DELETE", f"/api/v1/hosts/{name}")
    show({"removed": name}, as_json, lambda: click.echo(f"removed host {name}"))
