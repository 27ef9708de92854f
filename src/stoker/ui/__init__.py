"""The web UI: server-rendered pages under /ui on the same app and services as the API.

`install(app)` adds the pages, the actions, the static files (ours and the vendored libraries that
scripts/ui_assets.sh fetched) and the HTML answers for sign-in redirects and refusals.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from stoker.api.deps import services_of
from stoker.core.errors import StokerError
from stoker.store.ui_sessions import UiSessionStore
from stoker.ui.render import HERE, make_templates, render
from stoker.ui.session import SignInRequired


def install(app: FastAPI) -> None:
    from stoker.ui import actions, clusters, files, hosts, oidc, pages, secrets, tasks

    app.state.ui_sessions = UiSessionStore(services_of(app).db)
    app.state.ui_templates = make_templates()
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(clusters.router)
    app.include_router(hosts.router)
    app.include_router(tasks.router)
    app.include_router(secrets.router)
    app.include_router(files.router)
    app.include_router(oidc.router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static", check_dir=False), name="ui-static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/ui/sign-in?next={exc.next_url}", status_code=303)

    _answer_in_html(app, StokerError, lambda e: (e.status_code, e.message))
    _answer_in_html(app, HTTPException, lambda e: (e.status_code, str(e.detail)))


def _answer_in_html(app: FastAPI, kind: type[Exception], explain: Any) -> None:
    """Under /ui, an error is a page saying what is wrong (same status); elsewhere, the API's JSON."""
    api_handler = app.exception_handlers.get(kind)

    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/ui/") and not request.url.path.startswith("/ui/static/"):
            status, message = explain(exc)
            return render(request, "message.html", None, status_code=status, title="Refused", message=message)
        if api_handler is None:
            from fastapi.exception_handlers import http_exception_handler

            return await http_exception_handler(request, exc)  # type: ignore[arg-type]
        response = api_handler(request, exc)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(kind, handler)
