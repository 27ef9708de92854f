"""The UI's clusters and products: list, product with its launch form, cluster with its live status
history and nodes, destroy and repair — through the ClusterService the native API calls, with the
scopes it asks for (read to look, submit to launch, destroy or repair)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from stoker.api.deps import ClusterServiceDep
from stoker.clusters.options import ProductOptions
from stoker.clusters.service import STATUSES, ClusterService
from stoker.core.errors import InvalidInput, StokerError
from stoker.store.records.clusters import Product
from stoker.store.ui_sessions import UiSession
from stoker.ui.actions import refused, see_other
from stoker.ui.pages import live_horizon
from stoker.ui.render import render
from stoker.ui.session import authorize, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)

SECTIONS = ("required", "optional", "advanced")
# The field of a launch form is named after the option with this prefix, so an option called
# e.g. `csrf_token` cannot collide with the form's own fields.
PREFIX = "opt:"


# ---- pure helpers ----------------------------------------------------------------------------
def option_fields(options: dict[str, Any], given: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One form field per declared option, by section: its kind (from its default), its default
    prefilled (or what the user typed, when the form comes back with an error), its description."""
    parsed = ProductOptions.model_validate(options)
    fields = []
    for section in SECTIONS:
        for name, default in getattr(parsed, section).items():
            kind = _kind(default)
            shown = "" if default is None else json.dumps(default) if kind == "json" else \
                ("true" if default else "false") if kind == "bool" else str(default)
            fields.append({"name": name, "section": section, "kind": kind, "default": default,
                           "value": given[name] if given is not None and name in given else shown,
                           "description": parsed.descriptions.get(name, ""),
                           "required": section == "required" and default is None})
    return fields


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "number"
    if isinstance(default, (list, dict)):
        return "json"
    return "text"  # a string, or no default (a required option)


def form_options(options: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The launch body from the form: each filled field converted by its default's type. A value
    that does not convert is passed as typed, so the service's own check says what is wrong."""
    body: dict[str, Any] = {}
    for field in option_fields(options):
        raw = form.get(field["name"], "").strip()
        if raw == "":
            continue
        body[field["name"]] = _convert(field["kind"], raw)
    return body


def _convert(kind: str, raw: str) -> Any:
    try:
        if kind == "bool":
            return {"true": True, "false": False}.get(raw.lower(), raw)
        if kind == "int":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "json":
            return json.loads(raw)
    except ValueError:
        return raw
    return raw


def age(created_at: float, now: float | None = None) -> str:
    seconds = max(0, int((now or time.time()) - created_at))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# ---- products --------------------------------------------------------------------------------
@router.get("/products", response_class=HTMLResponse)
def products_page(request: Request, service: ClusterServiceDep,
                  session: UiSession = Depends(current_session)) -> HTMLResponse:
    return render(request, "products.html", session, products=service.products.store.all())


@router.get("/products/{name}/{version}", response_class=HTMLResponse)
def product_page(name: str, version: str, request: Request, service: ClusterServiceDep,
                 session: UiSession = Depends(current_session)) -> HTMLResponse:
    product = service.products.get(name, version)
    return _product(request, session, product, None, None)


def _product(request: Request, session: UiSession, product: Product, given: dict[str, str] | None,
             error: StokerError | None) -> HTMLResponse:
    return render(request, "product.html", session, status_code=error.status_code if error else 200,
                  product=product, fields=option_fields(product.options, given), prefix=PREFIX,
                  message=error.message if error else None,
                  bad_option=error.details.get("option") if error else None)


@router.post("/products/{name}/{version}/clusters")
async def launch(name: str, version: str, request: Request, service: ClusterServiceDep,
                 session: UiSession = Depends(current_session)) -> Response:
    """Launch with the form's options; a refusal comes back as the form, the service's words on top
    and next to the option they are about."""
    form = await request.form()
    authorize(session, "edit", str(form.get("csrf_token", "")))
    given = {k[len(PREFIX):]: str(v) for k, v in form.items() if k.startswith(PREFIX)}
    return await run_in_threadpool(_launch, request, service, session, name, version, given)


def _launch(request: Request, service: ClusterService, session: UiSession, name: str, version: str,
            given: dict[str, str]) -> Response:
    product = service.products.get(name, version)
    try:
        cluster = service.launch(session.principal.owner, name, version, form_options(product.options, given),
                                 team=session.principal.team)
    except StokerError as exc:
        return _product(request, session, product, given, exc)
    return see_other(f"/ui/clusters/{cluster.id}")


# ---- clusters --------------------------------------------------------------------------------
@router.get("/clusters", response_class=HTMLResponse)
def clusters_page(request: Request, service: ClusterServiceDep, session: UiSession = Depends(current_session),
                  status: str = "") -> HTMLResponse:
    if status and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    # One query: no nodes, no history; the session's team's clusters.
    clusters = service.store.list(status=status or None, team=session.principal.sees)
    now = time.time()
    return render(request, "clusters.html", session, clusters=clusters[::-1], status=status, statuses=STATUSES,
                  after=live_horizon(request), ages={c.id: age(c.created_at, now) for c in clusters})


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(cluster_id: str, request: Request, service: ClusterServiceDep,
                 session: UiSession = Depends(current_session)) -> HTMLResponse:
    after = live_horizon(request)  # before reading: a change after this is streamed, none is missed
    cluster = service.store.get(cluster_id, session.principal.sees)
    return render(request, "cluster.html", session, cluster=cluster, nodes=service.store.nodes(cluster_id),
                  history=service.store.history(cluster_id), after=after,
                  destroyable=cluster.status != "destroyed", repairable=cluster.status == "degraded")


@router.post("/clusters/{cluster_id}/destroy")
def destroy(cluster_id: str, request: Request, service: ClusterServiceDep,
            session: UiSession = Depends(current_session),
            csrf_token: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    try:
        service.destroy(cluster_id, session.principal.sees)
    except StokerError as exc:
        return refused(request, session, exc, f"/ui/clusters/{quote(cluster_id)}")
    return see_other(f"/ui/clusters/{quote(cluster_id)}")


@router.post("/clusters/{cluster_id}/repair")
def repair(cluster_id: str, request: Request, service: ClusterServiceDep, session: UiSession = Depends(current_session),
           csrf_token: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    try:
        service.repair(cluster_id, session.principal.sees)
    except StokerError as exc:
        return refused(request, session, exc, f"/ui/clusters/{quote(cluster_id)}")
    return see_other(f"/ui/clusters/{quote(cluster_id)}")
