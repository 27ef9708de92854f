"""`stoker products …` and `stoker clusters launch|list|show|nodes|destroy|repair|duties`: the native
API's clusters resources from the command line, through the client."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from stoker.cli.remote import JSON, connect, parse_pairs, remote, show
from stoker.cli.remote import TOKEN as TOKEN  # re-exported: other command modules take them from here
from stoker.cli.remote import URL as URL

SETTLED = ("ready", "failed", "destroyed", "degraded")


def _line(cluster: dict[str, Any]) -> str:
    reason = f"  ({cluster['reason']})" if cluster.get("reason") else ""
    return (f"{cluster['id']}  {cluster['product']} {cluster['version']}  size={cluster['size']}  "
            f"{cluster['status']}  {cluster['master_url'] or '-'}{reason}")


@click.group()
def products() -> None:
    """Products: cluster blueprints (template, options, orchestrator)."""


@products.command("list")
@JSON
@remote
def products_list(as_json: bool, url: str | None, token: str | None) -> None:
    """List products and their versions."""
    with connect(url, token) as client:
        found = client.products.list()

    def human() -> None:
        for p in found:
            click.echo(f"{p['name']} {p['version']}  [{p['orchestrator'] or 'default'}]  {p['description']}")
    show(found, as_json, human)


@products.command("show")
@click.argument("name")
@click.argument("version")
@JSON
@remote
def products_show(name: str, version: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Show a product: template, options, orchestrator."""
    with connect(url, token) as client:
        show(client.products.get(name, version), True)


def _template(template: Path) -> tuple[str, bool]:
    return template.read_text(), template.suffix in (".yaml", ".yml")


@products.command("create")
@click.argument("name")
@click.argument("version")
@click.option("--description", default="")
@click.option("--template", "template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Jinja2 template file (.json, or .yaml/.yml for YAML)")
@click.option("--options", "options", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="options JSON file")
@click.option("--orchestrator", default=None, help="a server-side orchestrator by name, e.g. local")
@JSON
@remote
def products_create(name: str, version: str, description: str, template: Path | None, options: Path | None,
                    orchestrator: str | None, as_json: bool, url: str | None, token: str | None) -> None:
    """Register a product, then set its options, template and orchestrator."""
    with connect(url, token) as client:
        client.products.create(name, version, description=description)
        if options is not None:
            client.products.put_options(name, version, json.loads(options.read_text()))
        if template is not None:
            text, yaml = _template(template)
            client.products.put_template(name, version, text, yaml=yaml)
        if orchestrator is not None:
            client.products.put_orchestrator(name, version, orchestrator)
        found = client.products.get(name, version)
    show(found, as_json, lambda: click.echo(f"product {name} {version} registered"))


@products.command("template")
@click.argument("name")
@click.argument("version")
@click.argument("template", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@JSON
@remote
def products_template(name: str, version: str, template: Path, as_json: bool, url: str | None,
                      token: str | None) -> None:
    """Set a product's Jinja2 template (.json, or .yaml/.yml)."""
    text, yaml = _template(template)
    with connect(url, token) as client:
        client.products.put_template(name, version, text, yaml=yaml)
        found = client.products.get(name, version)
    show(found, as_json, lambda: click.echo(f"product {name} {version}: template set"))


@products.command("options")
@click.argument("name")
@click.argument("version")
@click.argument("options", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@JSON
@remote
def products_options(name: str, version: str, options: Path, as_json: bool, url: str | None,
                     token: str | None) -> None:
    """Set a product's options (a JSON file: required, optional, advanced)."""
    with connect(url, token) as client:
        client.products.put_options(name, version, json.loads(options.read_text()))
        found = client.products.get(name, version)
    show(found, as_json, lambda: click.echo(f"product {name} {version}: options set"))


@products.command("orchestrator")
@click.argument("name")
@click.argument("version")
@click.argument("orchestrator")
@JSON
@remote
def products_orchestrator(name: str, version: str, orchestrator: str, as_json: bool, url: str | None,
                          token: str | None) -> None:
    """Choose a product's orchestrator by name (local, external, containers …)."""
    with connect(url, token) as client:
        client.products.put_orchestrator(name, version, orchestrator)
        found = client.products.get(name, version)
    show(found, as_json, lambda: click.echo(f"product {name} {version}: orchestrator {orchestrator}"))


@click.group()
def clusters() -> None:
    """Clusters: launch, list, show, nodes, destroy, repair, duties."""


@clusters.command("launch")
@click.argument("product", default="spark-standalone")
@click.argument("version", default="4.3")
@click.option("--size", type=int, default=None, help="number of worker nodes")
@click.option("--option", "options", multiple=True, help="NAME=VALUE (VALUE as JSON when it parses)")
@click.option("--no-wait", is_flag=True, help="return once registered")
@JSON
@remote
def clusters_launch(product: str, version: str, size: int | None, options: tuple[str, ...], no_wait: bool,
                    as_json: bool, url: str | None, token: str | None) -> None:
    """Launch a cluster and follow its status until it is ready (or failed)."""
    body = parse_pairs(options, "--option")
    if size is not None:
        body["size"] = size
    started = time.monotonic()

    def progress(cluster: dict[str, Any]) -> None:
        if not as_json:
            click.echo(f"[{time.monotonic() - started:6.1f}s] {cluster['id']} {cluster['status']}"
                       + (f"  ({cluster['reason']})" if cluster.get("reason") else ""))

    with connect(url, token) as client:
        cluster = client.clusters.launch(product, version, body)
        if no_wait:
            progress(cluster)
        else:
            cluster = client.clusters.wait(cluster["id"], on_change=progress)
    if as_json:
        show(cluster, True)
    elif cluster["status"] == "ready":
        click.echo(f"master: {cluster['master_url']}  web: {cluster['web_url'] or '-'}")
    if cluster["status"] == "failed":
        sys.exit(1)


@clusters.command("list")
@click.option("--status", default=None)
@click.option("--product", default=None)
@JSON
@remote
def clusters_list(status: str | None, product: str | None, as_json: bool, url: str | None,
                  token: str | None) -> None:
    """List clusters."""
    with connect(url, token) as client:
        found = client.clusters.list(status=status, product=product)

    def human() -> None:
        for cluster in found:
            click.echo(_line(cluster))
    show(found, as_json, human)


@clusters.command("show")
@click.argument("cluster_id")
@JSON
@remote
def clusters_show(cluster_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Show a cluster: status, history and nodes."""
    with connect(url, token) as client:
        cluster = client.clusters.get(cluster_id)

    def human() -> None:
        click.echo(_line(cluster))
        for h in cluster["history"]:
            click.echo(f"  {h['at']}  {h['status']}" + (f"  ({h['reason']})" if h["reason"] else ""))
        _print_nodes(cluster["nodes"])
    show(cluster, as_json, human)


def _print_nodes(nodes: list[dict[str, Any]]) -> None:
    for n in nodes:
        click.echo(f"  node {n['name']:<10} {n['service'] or '-':<14} {n['host']}:{n['port']}  pid {n['pid']}  "
                   f"{n['state']}")


@clusters.command("nodes")
@click.argument("cluster_id")
@JSON
@remote
def clusters_nodes(cluster_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A cluster's nodes: service, address, process, state."""
    with connect(url, token) as client:
        nodes = client.clusters.nodes(cluster_id)
    show(nodes, as_json, lambda: _print_nodes(nodes))


@clusters.command("destroy")
@click.argument("cluster_id")
@JSON
@remote
def clusters_destroy(cluster_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Destroy a cluster: every node stopped."""
    with connect(url, token) as client:
        cluster = client.clusters.destroy(cluster_id)
    show(cluster, as_json, lambda: click.echo(_line(cluster)))


@clusters.command("repair")
@click.argument("cluster_id")
@JSON
@remote
def clusters_repair(cluster_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Restart the dead nodes of a degraded cluster."""
    with connect(url, token) as client:
        cluster = client.clusters.repair(cluster_id)
    show(cluster, as_json, lambda: click.echo(_line(cluster)))


@clusters.command("duties")
@JSON
@remote
def clusters_duties(as_json: bool, url: str | None, token: str | None) -> None:
    """Which process holds the cluster duties (scheduler, reconciler) now."""
    with connect(url, token) as client:
        found = client.clusters.duties()
    show(found, as_json, lambda: click.echo(f"{found['lease']}: held by {found.get('holder') or 'nobody'}"
                                            + (f" on {found['host']} (pid {found['pid']})" if found.get("host")
                                               else "")))
