"""`stoker products …` and `stoker clusters launch|list|show|destroy|repair`: the native API's
clusters resources from the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from stoker.cli.remote import TOKEN as TOKEN  # re-exported: other command modules take them from here
from stoker.cli.remote import URL as URL
from stoker.cli.remote import connect

SETTLED = ("ready", "failed", "destroyed", "degraded")


def _request(url: str | None, token: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One API call of a command (the client's `request`), its error a one-line message."""
    with connect(url, token) as client:
        return client.request(method, path, **kwargs)


def _line(cluster: dict[str, Any]) -> str:
    reason = f"  ({cluster['reason']})" if cluster.get("reason") else ""
    return (f"{cluster['id']}  {cluster['product']} {cluster['version']}  size={cluster['size']}  "
            f"{cluster['status']}  {cluster['master_url'] or '-'}{reason}")


@click.group()
def products() -> None:
    """Products: cluster blueprints (template, options, orchestrator)."""


@products.command("list")
@URL
@TOKEN
def products_list(url: str | None, token: str | None) -> None:
    """List products and their versions."""
    for p in _request(url, token, "GET", "/api/v1/products")["products"]:
        click.echo(f"{p['name']} {p['version']}  [{p['orchestrator'] or 'default'}]  {p['description']}")


@products.command("show")
@click.argument("name")
@click.argument("version")
@URL
@TOKEN
def products_show(name: str, version: str, url: str | None, token: str | None) -> None:
    """Show a product: template, options, orchestrator."""
    click.echo(json.dumps(_request(url, token, "GET", f"/api/v1/products/{name}/{version}"), indent=2))


@products.command("create")
@click.argument("name")
@click.argument("version")
@click.option("--description", default="")
@click.option("--template", "template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Jinja2 template file (.json, or .yaml/.yml for YAML)")
@click.option("--options", "options", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="options JSON file")
@click.option("--orchestrator", default=None, help="a server-side orchestrator by name, e.g. local")
@URL
@TOKEN
def products_create(name: str, version: str, description: str, template: Path | None, options: Path | None,
                    orchestrator: str | None, url: str | None, token: str | None) -> None:
    """Register a product, then set its options, template and orchestrator."""
    base = f"/api/v1/products/{name}/{version}"
    _request(url, token, "POST", "/api/v1/products", json={"name": name, "version": version,
                                                            "description": description})
    if options is not None:
        _request(url, token, "PUT", f"{base}/options", json=json.loads(options.read_text()))
    if template is not None:
        kind = "application/yaml" if template.suffix in (".yaml", ".yml") else "application/json"
        _request(url, token, "PUT", f"{base}/template", content=template.read_bytes(),
                 headers={"content-type": kind})
    if orchestrator is not None:
        _request(url, token, "PUT", f"{base}/orchestrator", json={"name": orchestrator})
    click.echo(f"product {name} {version} registered")


@click.group()
def clusters() -> None:
    """Clusters: launch, list, show, destroy, repair."""


@clusters.command("launch")
@click.argument("product", default="spark-standalone")
@click.argument("version", default="4.3")
@click.option("--size", type=int, default=None, help="number of worker nodes")
@click.option("--option", "options", multiple=True, help="NAME=VALUE (VALUE as JSON when it parses)")
@click.option("--no-wait", is_flag=True, help="return once registered")
@URL
@TOKEN
def clusters_launch(product: str, version: str, size: int | None, options: tuple[str, ...], no_wait: bool,
                    url: str | None, token: str | None) -> None:
    """Launch a cluster and follow its status until it is ready (or failed)."""
    body: dict[str, Any] = {}
    for raw in options:
        name, sep, value = raw.partition("=")
        if not sep:
            raise click.BadParameter(f"{raw!r} is not NAME=VALUE", param_hint="--option")
        try:
            body[name] = json.loads(value)
        except json.JSONDecodeError:
            body[name] = value
    if size is not None:
        body["size"] = size
    cluster = _request(url, token, "POST", f"/api/v1/products/{product}/{version}/clusters", json=body)
    started, last = time.monotonic(), None
    while True:
        if cluster["status"] != last:
            last = cluster["status"]
            click.echo(f"[{time.monotonic() - started:6.1f}s] {cluster['id']} {last}"
                       + (f"  ({cluster['reason']})" if cluster.get("reason") else ""))
        if no_wait or last in SETTLED:
            break
        time.sleep(0.3)
        cluster = _request(url, token, "GET", f"/api/v1/clusters/{cluster['id']}")
    if last == "ready":
        click.echo(f"master: {cluster['master_url']}  web: {cluster['web_url'] or '-'}")
    elif last == "failed":
        sys.exit(1)


@clusters.command("list")
@click.option("--status", default=None)
@click.option("--product", default=None)
@URL
@TOKEN
def clusters_list(status: str | None, product: str | None, url: str | None, token: str | None) -> None:
    """List clusters."""
    query = {k: v for k, v in {"status": status, "product": product}.items() if v}
    for cluster in _request(url, token, "GET", "/api/v1/clusters", params=query)["clusters"]:
        click.echo(_line(cluster))


@clusters.command("show")
@click.argument("cluster_id")
@URL
@TOKEN
def clusters_show(cluster_id: str, url: str | None, token: str | None) -> None:
    """Show a cluster: status, history and nodes."""
    cluster = _request(url, token, "GET", f"/api/v1/clusters/{cluster_id}")
    click.echo(_line(cluster))
    for h in cluster["history"]:
        click.echo(f"  {h['at']}  {h['status']}" + (f"  ({h['reason']})" if h["reason"] else ""))
    for n in cluster["nodes"]:
        click.echo(f"  node {n['name']:<10} {n['service'] or '-':<14} {n['host']}:{n['port']}  pid {n['pid']}  "
                   f"{n['state']}")


@clusters.command("destroy")
@click.argument("cluster_id")
@URL
@TOKEN
def clusters_destroy(cluster_id: str, url: str | None, token: str | None) -> None:
    """Destroy a cluster: every node stopped."""
    click.echo(_line(_request(url, token, "DELETE", f"/api/v1/clusters/{cluster_id}")))


@clusters.command("repair")
@click.argument("cluster_id")
@URL
@TOKEN
def clusters_repair(cluster_id: str, url: str | None, token: str | None) -> None:
    """Restart the dead nodes of a degraded cluster."""
    click.echo(_line(_request(url, token, "POST", f"/api/v1/clusters/{cluster_id}/repair")))
