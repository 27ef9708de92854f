"""The native clusters API: /api/v1/products and /api/v1/clusters (thin: the service does the work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.deps import ClusterServiceDep
from stoker.clusters.bodies import lenient_json, orchestrator_choice, template_text
from stoker.clusters.duties import LEASE, holder_host_pid
from stoker.clusters.views import full_view, list_view, product_view
from stoker.core.times import iso
from stoker.store.leases import LeaseStore
from stoker.store.tokens import Principal

BASE = "/api/v1"
router = APIRouter(prefix=BASE, tags=["clusters"])


@router.get("/products", summary="List products with their versions", dependencies=[Depends(require("read"))])
def list_products(service: ClusterServiceDep) -> dict[str, Any]:
    return {"products": [product_view(p, BASE) for p in service.products.store.all()]}


@router.post("/products", status_code=201, summary="Register a product (name, version, description, logo_url)",
             responses={409: {"description": "this product version is registered already"}},
             dependencies=[Depends(require("admin"))])
def create_product(service: ClusterServiceDep, body: Any = Body(...)) -> dict[str, Any]:
    return product_view(service.products.create(body), BASE)


@router.get("/products/{name}/{version}", summary="A product with its template, options and orchestrator",
            dependencies=[Depends(require("read"))])
def get_product(name: str, version: str, service: ClusterServiceDep) -> dict[str, Any]:
    return product_view(service.products.get(name, version), BASE)


@router.post("/products/{name}/{version}/clusters", status_code=202,
             summary="Launch a cluster of a product with options (e.g. {\"size\": 2})", response_model=None)
def launch(name: str, version: str, service: ClusterServiceDep, body: Any = Body(default=None),
           principal: Principal = Depends(require("edit"))) -> JSONResponse:
    cluster = service.launch(principal.owner, name, version, lenient_json(body) if body is not None else {},
                             team=principal.team)
    view = full_view(service, cluster.id, BASE)
    return JSONResponse(view, status_code=202, headers={"Location": view["links"]["self"]})


@router.get("/cluster-duties", summary="Which `stoker serve` replica runs the cluster duties now",
            dependencies=[Depends(require("read"))])
def cluster_duties(service: ClusterServiceDep) -> dict[str, Any]:
    """The holder of the `cluster-duties` lease: the one replica that schedules, launches,
    reconciles and repairs clusters (its host and process id), since when, and until when it holds
    the lease unless it renews it (database time). `holder` is null when no replica has held it
    since the last clean stop; `expired` is true when its holder stopped renewing it and another
    replica is about to take over."""
    lease = LeaseStore(service.store.db).get(LEASE)
    if lease is None:
        return {"lease": LEASE, "holder": None, "host": None, "pid": None, "acquired_at": None,
                "expires_at": None, "expired": None}
    host, pid = holder_host_pid(lease.holder)
    return {"lease": LEASE, "holder": lease.holder, "host": host, "pid": pid,
            "acquired_at": iso(lease.acquired_at), "expires_at": iso(lease.expires_at),
            "expired": lease.expired}


@router.get("/clusters", summary="List the team's clusters (filter by status or product)")
def list_clusters(service: ClusterServiceDep, status: str | None = None, product: str | None = None,
                  principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return {"clusters": list_view(service, BASE, status=status, product=product, team=principal.sees)}


@router.get("/clusters/{cluster_id}", summary="A cluster: status, history, master URL and nodes")
def get_cluster(cluster_id: str, service: ClusterServiceDep,
                principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return full_view(service, cluster_id, BASE, principal.sees)


@router.get("/clusters/{cluster_id}/nodes", summary="A cluster's nodes")
def cluster_nodes(cluster_id: str, service: ClusterServiceDep,
                  principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return {"nodes": full_view(service, cluster_id, BASE, principal.sees)["nodes"]}


@router.delete("/clusters/{cluster_id}", summary="Destroy a cluster: stop every node, then `destroyed`")
def destroy(cluster_id: str, service: ClusterServiceDep,
            principal: Principal = Depends(require("edit"))) -> dict[str, Any]:
    service.destroy(cluster_id, principal.sees)
    return full_view(service, cluster_id, BASE)


@router.post("/clusters/{cluster_id}/repair", status_code=202,
             summary="Restart the dead nodes of a degraded cluster",
             responses={409: {"description": "the cluster is not degraded"}})
def repair(cluster_id: str, service: ClusterServiceDep,
           principal: Principal = Depends(require("edit"))) -> dict[str, Any]:
    service.repair(cluster_id, principal.sees)
    return full_view(service, cluster_id, BASE)


@router.put("/products/{name}/{version}/template", status_code=204,
            summary="Set the Jinja2 template (JSON, or YAML by content type)", dependencies=[Depends(require("admin"))])
async def put_template(name: str, version: str, request: Request, service: ClusterServiceDep) -> Response:
    text = await template_text(request)
    await run_in_threadpool(service.products.put_template, name, version, text,
                            request.headers.get("content-type"))
    return Response(status_code=204)


@router.put("/products/{name}/{version}/options", status_code=204,
            summary="Set the options: required, optional, advanced (values are defaults), descriptions",
            dependencies=[Depends(require("admin"))])
def put_options(name: str, version: str, service: ClusterServiceDep, body: Any = Body(...)) -> Response:
    service.products.put_options(name, version, lenient_json(body))
    return Response(status_code=204)


@router.put("/products/{name}/{version}/orchestrator", status_code=204,
            summary="Choose a server-side orchestrator by name ({\"name\": \"local\"}); code is never accepted",
            dependencies=[Depends(require("admin"))])
async def put_orchestrator(name: str, version: str, request: Request, service: ClusterServiceDep) -> Response:
    body = await orchestrator_choice(request)
    await run_in_threadpool(service.products.put_orchestrator, name, version, body)
    return Response(status_code=204)
