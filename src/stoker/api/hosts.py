"""`/api/v1/hosts`: the machines that run cluster nodes and container tasks (docs/hosts.md).

An admin registers a host by its container API (Podman's Docker-compatible service), its cores and
memory; drains it (nothing new is placed there, what runs stays) and removes it once nothing runs
there. Reads show each host's health as the cluster duties last found it, the capacity its nodes
hold and the nodes themselves.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from stoker.api.auth import require
from stoker.api.deps import ClusterServiceDep
from stoker.api.models import Body
from stoker.core.times import iso
from stoker.store.hosts import Host, PlacedNode, Usage

router = APIRouter(prefix="/api/v1/hosts", tags=["hosts"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such host"}}


class HostCreate(Body):
    name: str = Field(..., min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="how placement, nodes and the UI name it", examples=["node1"])
    endpoint: str = Field(..., min_length=1, max_length=500, examples=["tcp://10.0.0.5:8888"],
                          description="its Docker Engine API: Podman's `podman system service tcp://ADDR:PORT` "
                                      "(tcp://, http(s)://) or a unix:///path socket on the machine of the "
                                      "cluster duties; Stoker reaches the host only through it")
    cores: int = Field(..., ge=1, le=100_000, description="cores nodes and tasks may take on it")
    mem: int = Field(..., ge=64, le=1 << 30, description="memory in MB nodes and tasks may take on it")
    address: str | None = Field(None, max_length=200, examples=["10.0.0.5"],
                                description="where other hosts reach what runs on it (Spark masters and "
                                            "workers listen there); default: the endpoint's address")


def host_view(host: Host, used: Usage | None, nodes: list[PlacedNode]) -> dict[str, Any]:
    used = used or Usage(0, 0)
    return {"name": host.name, "endpoint": host.endpoint, "local": host.local, "address": host.address,
            "cores": host.cores, "mem": host.mem, "state": host.state, "health": host.health,
            "last_error": host.last_error, "checked_at": iso(host.checked_at) if host.checked_at else None,
            "failing_since": iso(host.failing_since) if host.failing_since else None,
            "used": {"cores": used.cores, "mem": used.mem},
            "free": {"cores": host.cores - used.cores, "mem": host.mem - used.mem},
            "nodes": [{"cluster_id": n.cluster_id, "cluster_status": n.cluster_status, "product": n.product,
                       "node": n.node, "role": n.role, "cpu": n.cpu, "mem": n.mem, "state": n.state,
                       "links": {"cluster": f"/api/v1/clusters/{n.cluster_id}"}} for n in nodes],
            "created_at": iso(host.created_at), "updated_at": iso(host.updated_at),
            "links": {"self": f"/api/v1/hosts/{host.name}"}}


def _view(service: ClusterServiceDep, host: Host) -> dict[str, Any]:
    store = service.hosts.store
    return host_view(host, store.usage().get(host.name), store.placed().get(host.name, []))


@router.post("", status_code=201, summary="Register a host by its container API, cores and memory",
             dependencies=[Depends(require("admin"))],
             responses={409: {"description": "a host with this name is registered"},
                        422: {"description": "a bad name, endpoint, address or capacity (nothing is stored)"}})
def register_host(body: HostCreate, service: ClusterServiceDep) -> dict[str, Any]:
    host = service.hosts.register(body.name, endpoint=body.endpoint, cores=body.cores, mem=body.mem,
                                  address=body.address)
    service.changed.set()  # clusters waiting for room may fit now
    return _view(service, host)


@router.get("", summary="List hosts: health, capacity used and free, the nodes on each",
            dependencies=[Depends(require("read"))])
def list_hosts(service: ClusterServiceDep) -> dict[str, Any]:
    store = service.hosts.store
    used, placed = store.usage(), store.placed()
    return {"hosts": [host_view(h, used.get(h.name), placed.get(h.name, [])) for h in store.list()]}


@router.get("/{name}", summary="One host: health, capacity used and free, its nodes",
            dependencies=[Depends(require("read"))], responses=NOT_FOUND)
def get_host(name: str, service: ClusterServiceDep) -> dict[str, Any]:
    return _view(service, service.hosts.store.get(name))


@router.post("/{name}/drain", summary="Drain a host: nothing new is placed on it; what runs there stays",
             dependencies=[Depends(require("admin"))], responses=NOT_FOUND)
def drain_host(name: str, service: ClusterServiceDep) -> dict[str, Any]:
    return _view(service, service.hosts.drain(name))


@router.post("/{name}/undrain", summary="Make a drained host take new nodes and tasks again",
             dependencies=[Depends(require("admin"))], responses=NOT_FOUND)
def undrain_host(name: str, service: ClusterServiceDep) -> dict[str, Any]:
    host = service.hosts.undrain(name)
    service.changed.set()
    return _view(service, host)


@router.delete("/{name}", status_code=204, summary="Remove a host nothing runs on",
               dependencies=[Depends(require("admin"))],
               responses={**NOT_FOUND, 409: {"description": "nodes of live clusters run there (named)"}})
def remove_host(name: str, service: ClusterServiceDep) -> Response:
    service.hosts.remove(name)
    return Response(status_code=204)
