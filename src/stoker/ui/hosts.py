"""The hosts page: every container host with its health, capacity used and free and the nodes on
it; an admin registers, drains, undrains and removes hosts — through the HostService the native API
calls, with the same scopes (read to look, admin to change)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from stoker.api.deps import ClusterServiceDep
from stoker.core.errors import InvalidInput, StokerError
from stoker.store.ui_sessions import UiSession
from stoker.ui.actions import refused, see_other
from stoker.ui.render import render
from stoker.ui.session import authorize, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)


def _number(text: str, what: str) -> int:
    if not text.strip().isdigit():
        raise InvalidInput(f"{what} must be a whole number (got {text!r})")
    return int(text)


@router.get("/hosts", response_class=HTMLResponse)
def hosts_page(request: Request, service: ClusterServiceDep,
               session: UiSession = Depends(current_session)) -> HTMLResponse:
    store = service.hosts.store
    return render(request, "hosts.html", session, hosts=store.list(), used=store.usage(), placed=store.placed())


@router.post("/hosts")
def register_host(request: Request, service: ClusterServiceDep, session: UiSession = Depends(current_session),
                  csrf_token: str = Form(""), name: str = Form(""), endpoint: str = Form(""),
                  cores: str = Form(""), mem: str = Form(""), address: str = Form("")) -> Response:
    authorize(session, "admin", csrf_token)
    try:
        service.hosts.register(name.strip(), endpoint=endpoint.strip(), cores=_number(cores, "cores"),
                               mem=_number(mem, "mem (MB)"), address=address.strip() or None)
    except StokerError as exc:
        return refused(request, session, exc, "/ui/hosts")
    service.changed.set()
    return see_other("/ui/hosts")


@router.post("/hosts/{name}/{action}")
def change_host(name: str, action: str, request: Request, service: ClusterServiceDep,
                session: UiSession = Depends(current_session), csrf_token: str = Form("")) -> Response:
    authorize(session, "admin", csrf_token)
    try:
        if action == "drain":
            service.hosts.drain(name)
        elif action == "undrain":
            service.hosts.undrain(name)
            service.changed.set()
        elif action == "remove":
            service.hosts.remove(name)
        else:
            raise InvalidInput(f"no action {action!r} on a host (drain, undrain or remove)")
    except StokerError as exc:  # e.g. nodes still run there (409): the page says which
        return refused(request, session, exc, "/ui/hosts")
    return see_other("/ui/hosts")
