"""The Big Data PaaS API (seed-apis.md §2) under /bigdata/api/v1, as its clients called it: thin,
over the clusters service. Errors come in the original's body `{"status", "error", "message"}`;
writes of template, options and orchestrator answer 204; a launch answers 202 with a queue URL that
redirects (303) to the cluster; clusters are also `/clusters/{user}/{product}/{version}/{n}`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.deps import ClusterServiceDep
from stoker.clusters.bodies import lenient_json, orchestrator_choice, template_text
from stoker.clusters.service import ClusterService
from stoker.clusters.views import full_view, list_view, product_view, services_view
from stoker.core import limits
from stoker.core.errors import StokerError
from stoker.store.tokens import Principal

BASE = "/bigdata/api/v1"


def error_body(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "error": HTTPStatus(status).phrase.lower(), "message": message},
                        status_code=status)


class PaasRoute(APIRoute):
    """Every failure of these routes (auth, validation, domain errors) in the original's error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def paas_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except StokerError as exc:
                return error_body(exc.status_code, exc.message)
            except HTTPException as exc:
                return error_body(exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                                  for e in exc.errors())
                return error_body(422, f"invalid request: {where}")

        return paas_handler


router = APIRouter(prefix=BASE, tags=["Big Data PaaS API"], route_class=PaasRoute)


def _cluster_path(cluster: dict[str, Any]) -> str:
    return f"{BASE}/clusters/{cluster['owner']}/{cluster['product']}/{cluster['version']}/{cluster['number']}"


# -- products ----------------------------------------------------------------------------------
@router.get("/products", summary="Product names", dependencies=[Depends(require("read"))])
def products(request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    return {"products": service.products.store.names()}


@router.post("/products", status_code=201, summary="Register a product", response_model=None)
def create_product(request: Request, service: ClusterServiceDep, body: Any = Body(...),
                   _p: Principal = Depends(require("admin"))) -> JSONResponse:
    product = service.products.create(lenient_json(body))
    location = f"{BASE}/products/{product['name']}/{product['version']}"
    return JSONResponse(product_view(product, BASE), status_code=201, headers={"Location": location})


@router.get("/products/{name}", summary="A product's versions", dependencies=[Depends(require("read"))])
def versions(name: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    return {"versions": service.products.store.versions(name)}


@router.get("/products/{name}/{version}", summary="A product: template, options, orchestrator",
            dependencies=[Depends(require("read"))])
def product(name: str, version: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    return product_view(service.products.get(name, version), BASE)


@router.put("/products/{name}/{version}/template", status_code=204, summary="Set the Jinja2 template",
            dependencies=[Depends(require("admin"))])
async def put_template(name: str, version: str, request: Request, service: ClusterServiceDep) -> Response:
    text = await template_text(request)
    await run_in_threadpool(service.products.put_template, name, version, text,
                            request.headers.get("content-type"))
    return Response(status_code=204)


@router.put("/products/{name}/{version}/options", status_code=204, summary="Set the options",
            dependencies=[Depends(require("admin"))])
def put_options(name: str, version: str, request: Request, service: ClusterServiceDep,
                body: Any = Body(...)) -> Response:
    service.products.put_options(name, version, lenient_json(body))
    return Response(status_code=204)


@router.get("/products/{name}/{version}/options", summary="Read the options",
            dependencies=[Depends(require("read"))])
def get_options(name: str, version: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    options: dict[str, Any] = service.products.get(name, version)["options"]
    return options


async def _put_orchestrator(name: str, version: str, request: Request, service: ClusterServiceDep) -> Response:
    body = await orchestrator_choice(request)
    await run_in_threadpool(service.products.put_orchestrator, name, version, body)
    return Response(status_code=204)


for _spelling in ("orquestrator", "orchestrator"):  # the original's first spelling, and its later one
    router.add_api_route(f"/products/{{name}}/{{version}}/{_spelling}", _put_orchestrator, methods=["PUT"],
                         status_code=204, dependencies=[Depends(require("admin"))],
                         summary="Choose a server-side orchestrator by name (uploaded code is refused)")


@router.post("/products/{name}/{version}", status_code=202, summary="Launch a cluster ({\"size\": N, ...})",
             response_model=None)
def launch(name: str, version: str, request: Request, service: ClusterServiceDep, body: Any = Body(default=None),
           principal: Principal = Depends(require("submit"))) -> JSONResponse:
    cluster = service.launch(principal.name, name, version, lenient_json(body) if body is not None else {})
    queue_url = f"{BASE}/queue/{cluster['id']}"
    return JSONResponse({"url": queue_url, "id": cluster["id"], "status": cluster["status"],
                         "links": {"queue": queue_url, "cluster": _cluster_path(cluster),
                                   "self": f"/api/v1/clusters/{cluster['id']}"}},
                        status_code=202, headers={"Location": queue_url})


@router.get("/queue/{queue_id}", summary="A launch's queue entry: 303 to its cluster once registered",
            dependencies=[Depends(require("read"))], response_model=None)
def queue(queue_id: str, request: Request, service: ClusterServiceDep) -> Response:
    cluster = service.store.get(queue_id)
    return RedirectResponse(_cluster_path(cluster), status_code=303)


# -- clusters ----------------------------------------------------------------------------------
@router.get("/clusters", summary="Clusters (filter by status or product)")
def clusters(request: Request, service: ClusterServiceDep, status: str | None = None, product: str | None = None,
             _p: Principal = Depends(require("read"))) -> dict[str, Any]:
    return {"clusters": list_view(service, BASE, status=status, product=product)}


@router.get("/clusters/{ref}", summary="A cluster by id, else the clusters of user `ref`",
            dependencies=[Depends(require("read"))])
def cluster_or_user(ref: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    if service.store.find(ref) is not None:
        return full_view(service, ref, BASE)
    return {"clusters": list_view(service, BASE, owner=ref)}


# The same path template as the GET above (`ref`, here a cluster id), so the document and the Allow
# header of a 405 name one resource with both its methods.
@router.delete("/clusters/{ref}", summary="Destroy a cluster (by id)", dependencies=[Depends(require("submit"))])
def destroy(ref: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    service.destroy(ref)
    return {"message": "success"}


@router.post("/clusters/{cluster_id}/repair", status_code=202, summary="Restart a degraded cluster's dead nodes",
             dependencies=[Depends(require("submit"))])
def repair(cluster_id: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    service.repair(cluster_id)
    return full_view(service, cluster_id, BASE)


# The n of /clusters/{user}/{product}/{version}/{n}: 1, 2, … per user, product and version.
ClusterNumber = Annotated[int, Path(ge=1, le=limits.MAX_CLUSTER_NUMBER)]


def _by_number(service: ClusterService, user: str, product: str, version: str, n: int) -> dict[str, Any]:
    return full_view(service, service.store.by_number(user, product, version, n)["id"], BASE)


@router.get("/clusters/{user}/{product}/{version}/{n}", summary="A cluster by the original's URL",
            dependencies=[Depends(require("read"))])
def cluster(user: str, product: str, version: str, n: ClusterNumber, service: ClusterServiceDep) -> dict[str, Any]:
    return _by_number(service, user, product, version, n)


@router.get("/clusters/{user}/{product}/{version}/{n}/nodes", summary="A cluster's nodes",
            dependencies=[Depends(require("read"))])
def nodes(user: str, product: str, version: str, n: ClusterNumber, service: ClusterServiceDep) -> dict[str, Any]:
    return {"nodes": _by_number(service, user, product, version, n)["nodes"]}


@router.get("/clusters/{user}/{product}/{version}/{n}/services", summary="A cluster's services",
            dependencies=[Depends(require("read"))])
def services(user: str, product: str, version: str, n: ClusterNumber, request: Request,
             service: ClusterServiceDep) -> dict[str, Any]:
    found = service.store.by_number(user, product, version, n)
    return {"services": services_view(found["spec"])}


@router.delete("/clusters/{user}/{product}/{version}/{n}", summary="Destroy a cluster by the original's URL",
               dependencies=[Depends(require("submit"))])
def destroy_by_number(user: str, product: str, version: str, n: ClusterNumber, request: Request,
                      service: ClusterServiceDep) -> dict[str, Any]:
    service.destroy(service.store.by_number(user, product, version, n)["id"])
    return {"message": "success"}
