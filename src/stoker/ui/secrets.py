"""The secrets page: names, kinds, key names, who changed them and which jobs use them; create,
rotate (new values) and delete. Values go in and never come back out, as in the API."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from stoker.api.deps import SecretStoreDep
from stoker.core.errors import InvalidInput, StokerError
from stoker.store.ui_sessions import UiSession
from stoker.ui.actions import refused, see_other
from stoker.ui.render import render
from stoker.ui.session import authorize, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)


def parse_values(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines (blank lines skipped); the value is everything after the first `=`."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"values, line {number}: write KEY=VALUE (the value is not shown back)")
        values[key.strip()] = value
    if not values:
        raise InvalidInput("give at least one KEY=VALUE line")
    return values


@router.get("/secrets", response_class=HTMLResponse)
def secrets_page(request: Request, store: SecretStoreDep,
                 session: UiSession = Depends(current_session)) -> HTMLResponse:
    team = session.principal.team
    return render(request, "secrets.html", session, secrets=store.list(team=team), users=store.users(team=team),
                  message=None)


@router.post("/secrets")
def create_secret(request: Request, store: SecretStoreDep, session: UiSession = Depends(current_session),
                  csrf_token: str = Form(""), name: str = Form(""), kind: str = Form(""), values: str = Form(""),
                  description: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    try:
        if kind not in ("s3", "env", "generic"):
            raise InvalidInput("kind must be s3, env or generic")
        store.create(name.strip(), kind, parse_values(values), description=description.strip(),
                     by=session.principal.owner, team=session.principal.team)
    except StokerError as exc:
        return refused(request, session, exc, "/ui/secrets")
    return see_other("/ui/secrets")


@router.post("/secrets/{name}/values")
def rotate_secret(name: str, request: Request, store: SecretStoreDep, session: UiSession = Depends(current_session),
                  csrf_token: str = Form(""), values: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    try:
        store.update(name, values=parse_values(values), by=session.principal.owner, team=session.principal.team)
    except StokerError as exc:
        return refused(request, session, exc, "/ui/secrets")
    return see_other(f"/ui/secrets#secret-{quote(name)}")


@router.post("/secrets/{name}/delete")
def delete_secret(name: str, request: Request, store: SecretStoreDep, session: UiSession = Depends(current_session),
                  csrf_token: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    try:
        store.delete(name, team=session.principal.team)
    except StokerError as exc:  # a job names it (409): the page says which
        return refused(request, session, exc, "/ui/secrets")
    return see_other("/ui/secrets")
