"""How products and clusters look in responses (native and PaaS routes share these)."""

from __future__ import annotations

from typing import Any

from stoker.clusters.service import STATUSES, ClusterService
from stoker.core.errors import InvalidInput
from stoker.core.times import iso


def product_view(product: dict[str, Any], base: str) -> dict[str, Any]:
    name, version = product["name"], product["version"]
    return {
        "name": name, "version": version, "description": product["description"],
        "logo_url": product["logo_url"], "template": product["template"],
        "template_format": product["template_format"], "options": product["options"],
        "orchestrator": product["orchestrator"], "builtin": product["builtin"],
        "created_at": iso(product["created_at"]), "updated_at": iso(product["updated_at"]),
        "links": {"self": f"{base}/products/{name}/{version}", "launch": f"{base}/products/{name}/{version}"},
    }


def node_view(node: dict[str, Any]) -> dict[str, Any]:
    return {"name": node["name"], "service": node["service"], "role": node["role"], "cpu": node["cpu"],
            "mem": node["mem"], "host": node["host"], "port": node["port"], "web_port": node["web_port"],
            "pid": node["pid"], "state": node["state"]}


def services_view(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "nodes": s.get("nodes", []), "role": s.get("role"), "conf": s.get("conf", {})}
            for name, s in (spec.get("services") or {}).items()]


def cluster_view(cluster: dict[str, Any], nodes: list[dict[str, Any]], history: list[dict[str, Any]],
                 base: str) -> dict[str, Any]:
    cid = cluster["id"]
    paas_path = f"/bigdata/api/v1/clusters/{cluster['owner']}/{cluster['product']}/{cluster['version']}/" \
                f"{cluster['number']}"
    return {
        "id": cid, "status": cluster["status"], "reason": cluster["reason"], "product": cluster["product"],
        "version": cluster["version"], "owner": cluster["owner"], "number": cluster["number"],
        "size": cluster["size"], "options": cluster["options"], "orchestrator": cluster["orchestrator"],
        "needs": {"cores": cluster["needs_cores"], "mem": cluster["needs_mem"]},
        "master_url": cluster["master_url"], "web_url": cluster["web_url"],
        "created_at": iso(cluster["created_at"]), "updated_at": iso(cluster["updated_at"]),
        "history": [{"status": h["status"], "at": iso(h["at"]), "reason": h["reason"]} for h in history],
        "nodes": [node_view(n) for n in nodes],
        "services": services_view(cluster["spec"]),
        "links": {"self": f"{base}/clusters/{cid}", "paas": paas_path, "nodes": f"{base}/clusters/{cid}/nodes",
                  "repair": f"{base}/clusters/{cid}/repair"},
    }


# Views read through the service's store: the native router and the PaaS adapter show a cluster
# the same way.
def full_view(service: ClusterService, cluster_id: str, base: str) -> dict[str, Any]:
    cluster = service.store.get(cluster_id)
    return cluster_view(cluster, service.store.nodes(cluster_id), service.store.history(cluster_id), base)


def list_view(service: ClusterService, base: str, *, owner: str | None = None, status: str | None = None,
              product: str | None = None) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    return [full_view(service, c["id"], base) for c in service.store.list(owner=owner, status=status, product=product)]
