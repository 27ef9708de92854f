"""Who is signed in to the UI, and whether they may act: the session cookie, CSRF and scopes.

A page needs a live session (else: to the sign-in page). An action (every POST) needs the session,
the form's CSRF token matching the session's, and the scope the same API call needs (else: 403),
so hiding a button is a courtesy and the server is the gate.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import refuse_unless_allowed
from stoker.api.deps import file_store_of
from stoker.core.teams import NEEDS
from stoker.files import FileStore
from stoker.store.ui_sessions import UiSession, UiSessionStore

COOKIE = "stoker_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def session_store(request: Request) -> UiSessionStore:
    store: UiSessionStore = request.app.state.ui_sessions
    return store


async def current_session(request: Request) -> UiSession:
    """The FastAPI dependency of every page: the signed-in session, or SignInRequired."""
    session_id = request.cookies.get(COOKIE)
    session = None
    if session_id:
        session = await run_in_threadpool(session_store(request).lookup, session_id)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(target, safe="/?=&"))
    request.state.principal = session.principal  # for the audit log (api/audit.py)
    return session


def authorize(session: UiSession, need: str, csrf_token: str | None) -> None:
    """Refuse (403) an action without the session's CSRF token, or without the scope and team role
    it needs (`need`: a name of core/teams.py NEEDS, as the same API call declares it)."""
    if not csrf_token or not hmac.compare_digest(csrf_token, session.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    refuse_unless_allowed(session.principal, NEEDS[need])


async def _team_file_store(request: Request, session: Annotated[UiSession, Depends(current_session)]) -> FileStore:
    return file_store_of(request.app, session.principal.team)


# The signed-in person's team's files (the API's FileStoreDep, for a session instead of a token).
TeamFileStoreDep = Annotated[FileStore, Depends(_team_file_store)]
