"""How products and clusters look in responses (native and PaaS routes share these)."""

from __future__ import annotations

from typing import Any

from stoker.clusters.service import STATUSES, ClusterService
from stoker.core.errors import InvalidInput
from stoker.core.times import iso
from stoker.store.records.clusters import Cluster, Node, Product, StatusChange


def product_view(product: Product, base: str) -> dict[str, Any]:
    name, version = product.name, product.version
    return {
        "name": name, "version": version, "description": product.description,
        "logo_url": product.logo_url, "template": product.template,
        "template_format": product.template_format, "options": product.options,
        "orchestrator": product.orchestrator, "builtin": product.builtin,
        "created_at": iso(product.created_at), "updated_at": iso(product.updated_at),
        "links": {"self": f"{base}/products/{name}/{version}", "launch": f"{base}/products/{name}/{version}"},
    }


def node_view(node: Node) -> dict[str, Any]:
    return {"name": node.name, "service": node.service, "role": node.role, "cpu": node.cpu,
            "mem": node.mem, "host": node.host, "host_name": node.host_name, "port": node.port,
            "web_port": node.web_port, "pid": node.pid, "state": node.state}


def services_view(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "nodes": s.get("nodes", []), "role": s.get("role"), "conf": s.get("conf", {})}
            for name, s in (spec.get("services") or {}).items()]


def cluster_view(cluster: Cluster, nodes: list[Node], history: list[StatusChange], base: str) -> dict[str, Any]:
    cid = cluster.id
    paas_path = f"/bigdata/api/v1/clusters/{cluster.owner}/{cluster.product}/{cluster.version}/{cluster.number}"
    return {
        "id": cid, "status": cluster.status, "reason": cluster.reason, "product": cluster.product,
        "version": cluster.version, "owner": cluster.owner, "number": cluster.number,
        "size": cluster.size, "options": cluster.options, "orchestrator": cluster.orchestrator,
        "needs": {"cores": cluster.needs_cores, "mem": cluster.needs_mem},
        "master_url": cluster.master_url, "web_url": cluster.web_url,
        "created_at": iso(cluster.created_at), "updated_at": iso(cluster.updated_at),
        "history": [{"status": h.status, "at": iso(h.at), "reason": h.reason} for h in history],
        "nodes": [node_view(n) for n in nodes],
        "services": services_view(cluster.spec),
        "links": {"self": f"{base}/clusters/{cid}", "paas": paas_path, "nodes": f"{base}/clusters/{cid}/nodes",
                  "repair": f"{base}/clusters/{cid}/repair"},
    }


# Views read through the service's store: the native router and the PaaS adapter show a cluster
# the same way.
def full_view(service: ClusterService, cluster_id: str, base: str, team: str | None = None) -> dict[str, Any]:
    cluster = service.store.get(cluster_id, team)
    return cluster_view(cluster, service.store.nodes(cluster_id), service.store.history(cluster_id), base)


def list_view(service: ClusterService, base: str, *, owner: str | None = None, status: str | None = None,
              product: str | None = None, team: str | None = None) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    return [full_view(service, c.id, base)
            for c in service.store.list(owner=owner, status=status, product=product, team=team)]


# -- the Big Data PaaS's shapes (compat/paas.py) -------------------------------------------------
# The original's clients read a cluster as {"result", "uri", "data": {"name", "dn", "status"}},
# with `uri` the cluster's path below the API base without a leading slash (its web UI splits it on
# "/" and joins it to the base). Stoker's own fields stay beside them: extra keys harm no client.

def paas_dn(cluster: Cluster) -> str:
    """The original's distinguished name of a cluster, which was also its `uri`."""
    return f"clusters/{cluster.owner}/{cluster.product}/{cluster.version}/{cluster.number}"


def paas_product_view(product: Product, base: str) -> dict[str, Any]:
    return {**product_view(product, base), "dn": f"products/{product.name}/{product.version}",
            "logo_url": product.logo_url or ""}


def _as_named_list(value: Any, extra: dict[str, Any]) -> list[Any]:
    """A template's `disks` or `networks` as the original listed them: one object per name."""
    if isinstance(value, dict):
        return [{"name": name, **extra, **(fields if isinstance(fields, dict) else {"value": fields})}
                for name, fields in value.items()]
    if isinstance(value, list):
        return list(value)
    return [] if value is None else [value]


def paas_nodes_view(cluster: Cluster, nodes: list[Node]) -> list[dict[str, Any]]:
    """The nodes of the rendered template (recorded ones with their process values), each with the
    original's `dn`, `status`, `disks` and `networks` beside Stoker's node fields."""
    spec_nodes: dict[str, Any] = (cluster.spec or {}).get("nodes") or {}
    recorded = {n.name: n for n in nodes}
    dn = paas_dn(cluster)
    out = []
    for name in sorted(set(spec_nodes) | set(recorded)):
        spec = spec_nodes.get(name) or {}
        row = recorded.get(name)
        view = node_view(row) if row is not None else {
            "name": name, "service": None, "role": None, "cpu": spec.get("cpu"), "mem": spec.get("mem"),
            "host": None, "host_name": None, "port": None, "web_port": None, "pid": None, "state": None}
        out.append({**view, "dn": f"{dn}/nodes/{name}", "status": view["state"] or cluster.status,
                    "docker_image": spec.get("docker_image"),
                    "disks": _as_named_list(spec.get("disks"), {"host": view["host"]}),
                    "networks": _as_named_list(spec.get("networks"), {"address": None})})
    return out


def paas_services_view(cluster: Cluster) -> list[dict[str, Any]]:
    dn = paas_dn(cluster)
    return [{**s, "dn": f"{dn}/services/{s['name']}", "status": cluster.status}
            for s in services_view(cluster.spec or {})]


def paas_cluster_view(service: ClusterService, cluster: Cluster, base: str) -> dict[str, Any]:
    nodes = service.store.nodes(cluster.id)
    native = cluster_view(cluster, nodes, service.store.history(cluster.id), base)
    dn = paas_dn(cluster)
    spec = cluster.spec or {}
    dnsname = spec.get("dnsname")  # the original's templates render it as {{ clusterid }}
    name = dnsname if isinstance(dnsname, str) and dnsname else cluster.id
    return {"result": "success", "uri": dn, "data": {"name": name, "dn": dn, "status": cluster.status},
            **native, "nodes": paas_nodes_view(cluster, nodes), "services": paas_services_view(cluster)}


def paas_list_view(service: ClusterService, base: str, *, owner: str | None = None,
                   product: str | None = None, version: str | None = None, status: str | None = None,
                   team: str | None = None) -> list[dict[str, Any]]:
    """Clusters in the original's shape, destroyed ones included (its UI lists them as inactive)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    found = service.store.list(owner=owner, status=status, product=product, team=team)
    return [paas_cluster_view(service, c, base) for c in found if version is None or c.version == version]
