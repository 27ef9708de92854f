"""Rendering pages: Jinja2 with autoescaping on (every value escaped), and the security headers
every page carries (a Content-Security-Policy that allows scripts and styles from this server only)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from stoker.core.times import iso
from stoker.store.ui_sessions import UiSession

HERE = Path(__file__).parent

# No 'unsafe-inline' anywhere: scripts and styles come from /ui/static only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}


def time_tag(ts: float | None) -> Markup:
    """A <time> the browser shows in its own zone with a relative time (static/app.js); UTC without JS."""
    if ts is None:
        return Markup("—")
    stamp = iso(ts)
    return Markup('<time datetime="{0}">{0}</time>').format(stamp)


def duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = end - start
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True  # every template, whatever its file name
    templates.env.filters["time"] = time_tag
    templates.env.filters["shell"] = lambda args: shlex.join(args) if args else ""  # a command, quoted as typed
    templates.env.globals["duration"] = duration
    return templates


def render(request: Request, template: str, session: UiSession | None, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.ui_templates
    principal = session.principal if session is not None else None
    context.update(
        session=session, csrf=session.csrf_token if session else "",
        can_submit=principal is not None and principal.allows("submit") and principal.may("runner"),
        is_admin=principal is not None and principal.allows("admin"),
    )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response
