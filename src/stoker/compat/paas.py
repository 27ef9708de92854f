"""The Big Data PaaS API (seed-apis.md §2) under /bigdata/api/v1, as its clients called it: thin,
over the clusters service. Errors come in the original's body `{"status", "error", "message"}` (unknown
paths and methods under the base too); writes of template, options and orchestrator answer 204; a
launch answers 202 `{"url"}` with the queue entry's absolute URL, which answers 303 `{"status",
"url"}` to the cluster; clusters live at `/clusters/{user}/{product}/{version}/{n}` and read as
`{"result", "uri", "data": {"name", "dn", "status"}}` with Stoker's own fields beside.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.deps import ClusterServiceDep, principal_of, services_of
from stoker.clusters.bodies import lenient_json, orchestrator_choice, template_text
from stoker.clusters.service import ClusterService
from stoker.clusters.views import (
    paas_cluster_view,
    paas_dn,
    paas_list_view,
    paas_nodes_view,
    paas_product_view,
    paas_services_view,
)
from stoker.core import limits
from stoker.core.errors import InvalidInput, StokerError
from stoker.store.records.clusters import Cluster
from stoker.store.tokens import Principal

BASE = "/bigdata/api/v1"


# The original's own words where they differed from the HTTP phrase.
_ERROR_WORDS = {405: "method not supported"}


def error_body(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    error = _ERROR_WORDS.get(status) or HTTPStatus(status).phrase.lower()
    return JSONResponse({"status": status, "error": error, "message": message}, status_code=status,
                        headers=headers)


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
                return error_body(exc.status_code, str(exc.detail), exc.headers)
            except RequestValidationError as exc:
                where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                                  for e in exc.errors())
                return error_body(422, f"invalid request: {where}")

        return paas_handler


router = APIRouter(prefix=BASE, tags=["Big Data PaaS API"], route_class=PaasRoute)


def _sees(request: Request) -> str | None:
    """The team whose clusters this request reaches (None: an admin's, every team's)."""
    return principal_of(request).sees


def _clusters(request: Request) -> ClusterService:
    return services_of(request.app).clusters


def _cluster_path(cluster: Cluster) -> str:
    return f"{BASE}/{quote(paas_dn(cluster))}"


def _absolute(request: Request, path: str) -> str:
    """The original answered absolute URLs (Flask's url_for(_external=True)): clients fetch them as
    they are."""
    return str(request.base_url).rstrip("/") + path


def _note(note: str | None) -> dict[str, str] | None:
    """What a 204 could not check yet, as a warning header (a 204 has no body)."""
    return {"Warning": f'299 stoker "{note}"'} if note else None


# -- products ----------------------------------------------------------------------------------
@router.get("/products", summary="Product names", dependencies=[Depends(require("read"))])
def products(request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    return {"products": service.products.store.names()}


@router.post("/products", status_code=201, summary="Register a product", response_model=None,
             responses={409: {"description": "this product version is registered already"}})
def create_product(request: Request, service: ClusterServiceDep, body: Any = Body(...),
                   _p: Principal = Depends(require("admin"))) -> JSONResponse:
    product = _clusters(request).products.create(lenient_json(body))
    location = _absolute(request, f"{BASE}/products/{product.name}/{product.version}")
    return JSONResponse(paas_product_view(product, BASE), status_code=201, headers={"Location": location})


@router.get("/products/{name}", summary="A product's versions", dependencies=[Depends(require("read"))])
def versions(name: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    return {"versions": service.products.store.versions(name)}


@router.get("/products/{name}/{version}", summary="A product: template, options, orchestrator",
            dependencies=[Depends(require("read"))])
def product(name: str, version: str, request: Request) -> dict[str, Any]:
    return paas_product_view(_clusters(request).products.get(name, version), BASE)


@router.put("/products/{name}/{version}/template", status_code=204, summary="Set the Jinja2 template",
            dependencies=[Depends(require("admin"))])
async def put_template(name: str, version: str, request: Request, service: ClusterServiceDep) -> Response:
    text = await template_text(request)
    note = await run_in_threadpool(_clusters(request).products.put_template, name, version, text,
                                   request.headers.get("content-type"))
    return Response(status_code=204, headers=_note(note))


@router.get("/products/{name}/{version}/template", summary="The template's text, as a JSON string",
            dependencies=[Depends(require("read"))])
def get_template(name: str, version: str, request: Request) -> str:
    return str(_clusters(request).products.get(name, version).template or "")


@router.put("/products/{name}/{version}/options", status_code=204, summary="Set the options",
            dependencies=[Depends(require("admin"))])
def put_options(name: str, version: str, request: Request, body: Any = Body(...)) -> Response:
    note = _clusters(request).products.put_options(name, version, lenient_json(body))
    return Response(status_code=204, headers=_note(note))


@router.get("/products/{name}/{version}/options", summary="Read the options",
            dependencies=[Depends(require("read"))])
def get_options(name: str, version: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    options: dict[str, Any] = service.products.get(name, version).options
    return options


async def _put_orchestrator(name: str, version: str, request: Request, service: ClusterServiceDep) -> Response:
    body = await orchestrator_choice(request)
    await run_in_threadpool(service.products.put_orchestrator, name, version, body)
    return Response(status_code=204)


def _get_orchestrator(name: str, version: str, request: Request) -> str:
    return str(_clusters(request).products.get(name, version).orchestrator or "")


for _spelling in ("orquestrator", "orchestrator"):  # the original's first spelling, and its later one
    router.add_api_route(f"/products/{{name}}/{{version}}/{_spelling}", _put_orchestrator, methods=["PUT"],
                         status_code=204, dependencies=[Depends(require("admin"))],
                         summary="Choose a server-side orchestrator by name (uploaded code is refused)")
    router.add_api_route(f"/products/{{name}}/{{version}}/{_spelling}", _get_orchestrator, methods=["GET"],
                         dependencies=[Depends(require("read"))],
                         summary="The orchestrator's name, as a JSON string (\"\" when none is chosen)")


@router.get("/products/{name}/{version}/logo_url", summary="The product's logo URL, as a JSON string",
            dependencies=[Depends(require("read"))])
def get_logo_url(name: str, version: str, request: Request) -> str:
    return str(_clusters(request).products.get(name, version).logo_url or "")


@router.put("/products/{name}/{version}/logo_url", status_code=204, summary='Set the logo URL ({"logo_url": …})',
            dependencies=[Depends(require("admin"))])
def put_logo_url(name: str, version: str, request: Request, body: Any = Body(...)) -> Response:
    data = lenient_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("logo_url"), str) or set(data) != {"logo_url"}:
        raise InvalidInput('the body must be {"logo_url": "<a URL>"}')
    if len(data["logo_url"]) > 2048:
        raise InvalidInput("logo_url is longer than 2048 characters")
    products = _clusters(request).products
    products.get(name, version)
    products.store.update(name, version, logo_url=data["logo_url"])
    return Response(status_code=204)


@router.post("/products/{name}/{version}", status_code=202, summary="Launch a cluster ({\"size\": N, ...})",
             response_model=None)
def launch(name: str, version: str, request: Request, service: ClusterServiceDep, body: Any = Body(default=None),
           principal: Principal = Depends(require("edit"))) -> JSONResponse:
    service = _clusters(request)
    cluster = service.launch(principal.owner, name, version, lenient_json(body) if body is not None else {},
                             team=principal.team)
    queue_url = _absolute(request, f"{BASE}/queue/{cluster.id}")
    return JSONResponse({"url": queue_url, "id": cluster.id, "status": cluster.status,
                         "links": {"queue": queue_url, "cluster": _absolute(request, _cluster_path(cluster)),
                                   "self": _absolute(request, f"/api/v1/clusters/{cluster.id}")}},
                        status_code=202, headers={"Location": queue_url})


@router.get("/queue/{queue_id}", summary="A launch's queue entry: 303 to its cluster once registered",
            dependencies=[Depends(require("read"))], response_model=None)
def queue(queue_id: str, request: Request) -> Response:
    """Stoker registers a cluster within the launch request itself, so its queue entry is
    `registered` from the start (the original answered 200 `{"status": "pending"}` until then)."""
    cluster = _clusters(request).store.get(queue_id, _sees(request))
    url = _absolute(request, _cluster_path(cluster))
    return JSONResponse({"status": "registered", "url": url, "id": cluster.id,
                         "cluster_status": cluster.status}, status_code=303, headers={"Location": url})


# -- clusters ----------------------------------------------------------------------------------
@router.get("/clusters", summary="Clusters (filter by status or product)")
def clusters(request: Request, service: ClusterServiceDep, status: str | None = None, product: str | None = None,
             principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return {"clusters": paas_list_view(_clusters(request), BASE, status=status, product=product,
                                       team=principal.sees)}


@router.get("/clusters/{ref}", summary="A cluster by id, else the clusters of user `ref`",
            dependencies=[Depends(require("read"))])
def cluster_or_user(ref: str, request: Request) -> dict[str, Any]:
    service = _clusters(request)
    found = service.store.find(ref, _sees(request))
    if found is not None:
        return paas_cluster_view(service, found, BASE)
    return {"clusters": paas_list_view(service, BASE, owner=ref, team=_sees(request))}


# The same path template as the GET above (`ref`, here a cluster id), so the document and the Allow
# header of a 405 name one resource with both its methods.
@router.delete("/clusters/{ref}", summary="Destroy a cluster (by id)", dependencies=[Depends(require("edit"))])
def destroy(ref: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    service.destroy(ref, _sees(request))
    return {"message": "success"}


@router.post("/clusters/{cluster_id}/repair", status_code=202, summary="Restart a degraded cluster's dead nodes",
             responses={409: {"description": "the cluster is not degraded"}}, dependencies=[Depends(require("edit"))])
def repair(cluster_id: str, request: Request, service: ClusterServiceDep) -> dict[str, Any]:
    service.repair(cluster_id, _sees(request))
    return paas_cluster_view(service, service.store.get(cluster_id), BASE)


@router.get("/clusters/{user}/{product}", summary="A user's clusters of a product",
            dependencies=[Depends(require("read"))])
def user_product_clusters(user: str, product: str, request: Request) -> dict[str, Any]:
    return {"clusters": paas_list_view(_clusters(request), BASE, owner=user, product=product, team=_sees(request))}


@router.get("/clusters/{user}/{product}/{version}", summary="A user's clusters of a product version",
            dependencies=[Depends(require("read"))])
def user_product_version_clusters(user: str, product: str, version: str, request: Request) -> dict[str, Any]:
    return {"clusters": paas_list_view(_clusters(request), BASE, owner=user, product=product, version=version,
                                       team=_sees(request))}


# The n of /clusters/{user}/{product}/{version}/{n}: 1, 2, … per user, product and version.
ClusterNumber = Annotated[int, Path(ge=1, le=limits.MAX_CLUSTER_NUMBER)]


def _by_number(request: Request, user: str, product: str, version: str, n: int) -> Cluster:
    return _clusters(request).store.by_number(user, product, version, n, _sees(request))


@router.get("/clusters/{user}/{product}/{version}/{n}", summary="A cluster by the original's URL",
            dependencies=[Depends(require("read"))])
def cluster(user: str, product: str, version: str, n: ClusterNumber, request: Request) -> dict[str, Any]:
    return paas_cluster_view(_clusters(request), _by_number(request, user, product, version, n), BASE)


@router.get("/clusters/{user}/{product}/{version}/{n}/nodes", summary="A cluster's nodes",
            dependencies=[Depends(require("read"))])
def nodes(user: str, product: str, version: str, n: ClusterNumber, request: Request) -> dict[str, Any]:
    found = _by_number(request, user, product, version, n)
    return {"nodes": paas_nodes_view(found, _clusters(request).store.nodes(found.id))}


@router.get("/clusters/{user}/{product}/{version}/{n}/services", summary="A cluster's services",
            dependencies=[Depends(require("read"))])
def services(user: str, product: str, version: str, n: ClusterNumber, request: Request) -> dict[str, Any]:
    return {"services": paas_services_view(_by_number(request, user, product, version, n))}


@router.delete("/clusters/{user}/{product}/{version}/{n}", summary="Destroy a cluster by the original's URL",
               dependencies=[Depends(require("edit"))])
def destroy_by_number(user: str, product: str, version: str, n: ClusterNumber, request: Request) -> dict[str, Any]:
    _clusters(request).destroy(_by_number(request, user, product, version, n).id)
    return {"message": "success"}


# Last: any other path under the base answers in the original's error body, 405 when the path is
# one of the routes above with another method (the original's 404 and 405 handlers). Like every
# route but /healthz it needs a token (read): an unknown path tells nothing to a stranger.
def _literal_segments(template: str) -> int:
    return sum(1 for part in template.split("/") if part and "{" not in part)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
                  include_in_schema=False, response_model=None, dependencies=[Depends(require("read"))])
def unknown(rest: str, request: Request) -> JSONResponse:
    path = f"{BASE}/{rest}"
    matching = [route for route in router.routes if isinstance(route, APIRoute) and route.endpoint is not unknown
                and route.path_regex.match(path)]
    # The path's own resource is the most literal template that matches it: `clusters/{id}/repair`,
    # not `clusters/{user}/{product}` (which matches the same path with product "repair").
    best = max((_literal_segments(route.path) for route in matching), default=0)
    allowed = sorted({m for route in matching if _literal_segments(route.path) == best for m in (route.methods or ())})
    if allowed:
        return error_body(405, "the method is not supported", {"Allow": ", ".join(allowed)})
    return error_body(404, "invalid resource URI")
