"""The UI's file browser: folders of the storage root, upload (drag and drop or the file input),
download, preview, delete — through the same `FileStore` the files API uses, with the same scopes
(read to look, submit to upload or delete) and the same path check.

An upload from the page is an XHR `PUT /ui/files/upload?path=…` (static/files.js: one request a
file, with its progress) carrying the session's CSRF token in `X-CSRF-Token`; it streams into
`FileStore.upload` as the API's PUT does. Without JavaScript the form posts the files as
multipart, spooled to disk by the form parser, then stored the same way.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from stoker.api.files import archive_response, entry_view, file_response
from stoker.catalog import PathRefused
from stoker.core.errors import InvalidInput, StokerError
from stoker.files import FileStore
from stoker.files.preview import preview
from stoker.store.ui_sessions import UiSession
from stoker.ui.actions import refused, see_other
from stoker.ui.render import render
from stoker.ui.session import CSRF_HEADER, TeamFileStoreDep, authorize, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 200  # entries of a folder a page
PREVIEW_ROWS = 50


def browse_url(path: str) -> str:
    return "/ui/files?path=" + quote(path) if path else "/ui/files"


def crumbs(path: str) -> list[tuple[str, str]]:
    """(name, link) from the root down to `path`."""
    out = [("files", browse_url(""))]
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        out.append((part, browse_url("/".join(parts[: i + 1]))))
    return out


def written_files(store: FileStore, result: Any) -> list[str]:
    """What a run wrote, as paths of the file browser: a write step's output inside the storage
    root (outputs elsewhere, such as S3, have no page here)."""
    if not isinstance(result, dict) or result.get("type") != "write" or not isinstance(result.get("path"), str):
        return []
    root = str(store.roots.storage_root)
    path = result["path"]
    if path.startswith("/") and os.path.commonpath([root, path]) == root and path != root:
        return [os.path.relpath(path, root).replace(os.sep, "/")]
    return []


@router.get("/files", response_class=HTMLResponse)
def files_page(request: Request, store: TeamFileStoreDep, session: UiSession = Depends(current_session),
               path: str = Query("", max_length=4096), cursor: str | None = Query(None, max_length=4096)
               ) -> HTMLResponse:
    try:
        rel, where, st = store.existing(path)
        entry = store.entry(rel)
    except (StokerError, PathRefused) as exc:
        return refused(request, session, exc if isinstance(exc, StokerError) else InvalidInput(str(exc)),
                       browse_url(""))
    shown: dict[str, Any] | None = None
    problem = None
    if entry.kind == "file" or entry.format is not None:
        try:
            shown = preview(rel, where, rows=PREVIEW_ROWS, max_bytes=store.limits.preview_max_bytes).as_dict()
        except StokerError as exc:
            problem = exc.message
    entries: list[dict[str, Any]] = []
    next_cursor = None
    if entry.kind == "directory":
        listed, next_cursor = store.list_entries(rel + "/" if rel else "", limit=PAGE, cursor=cursor)
        entries = [{**entry_view(e), "browse": browse_url(e.path),
                    "download": "/ui/files/download?path=" + quote(e.path) + ("&archive=zip" if e.kind == "directory"
                                                                             else "")}
                   for e in listed]
    parent = rel.rpartition("/")[0]
    return render(request, "files.html", session, entry=entry_view(entry) if rel else None, rel=rel,
                  crumbs=crumbs(rel), entries=entries, next_cursor=next_cursor, shown=shown, problem=problem,
                  is_dir=entry.kind == "directory", parent_url=browse_url(parent), size=st.st_size,
                  download="/ui/files/download?path=" + quote(rel) + ("&archive=zip" if entry.kind == "directory"
                                                                     else ""),
                  max_bytes=store.limits.max_file_bytes)


@router.get("/files/download")
def files_download(store: TeamFileStoreDep, _: UiSession = Depends(current_session),
                   path: str = Query(max_length=4096), archive: str | None = Query(None, pattern="^(zip|tar)$"),
                   ) -> Response:
    """The API's download, for the signed-in browser (Range, ETag; a directory as an archive)."""
    if archive is not None:
        return archive_response(store, path, "zip" if archive == "zip" else "tar")
    rel, where, st = store.file_to_read(path)
    return file_response(rel, str(where), st)


@router.put("/files/upload")
async def files_upload(request: Request, store: TeamFileStoreDep, session: UiSession = Depends(current_session),
                       path: str = Query(max_length=4096), overwrite: bool = False) -> JSONResponse:
    """One file from the page's script, streamed as the API's PUT streams it; answers in JSON."""
    try:
        authorize(session, "edit", request.headers.get(CSRF_HEADER))
        length = request.headers.get("content-length")
        done = await store.upload(path, request.stream(), overwrite=overwrite,
                                  length=int(length) if length and length.isdigit() else None)
    except StokerError as exc:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
    except PathRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    body = entry_view(done.entry)
    return JSONResponse({**body, "browse": browse_url(done.entry.path)}, status_code=201 if done.created else 200)


@router.post("/files/upload")
async def files_upload_form(request: Request, store: TeamFileStoreDep, session: UiSession = Depends(current_session),
                            csrf_token: str = Form(""), directory: str = Form(""), overwrite: str = Form(""),
                            files: list[UploadFile] | None = None) -> Response:
    """The same upload without JavaScript: the form's files, one by one."""
    authorize(session, "edit", csrf_token)
    back = browse_url(directory.strip("/"))
    try:
        chosen = [f for f in (files or []) if f.filename]
        if not chosen:
            raise InvalidInput("choose one or more files to upload")
        for upload in chosen:
            name = os.path.basename(upload.filename or "")
            target = f"{directory.strip('/')}/{name}" if directory.strip("/") else name
            await store.upload(target, _chunks(upload), overwrite=bool(overwrite), length=upload.size)
    except StokerError as exc:
        return refused(request, session, exc, back)
    except PathRefused as exc:
        return refused(request, session, InvalidInput(str(exc)), back)
    return see_other(back)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


@router.post("/files/delete")
def files_delete(request: Request, store: TeamFileStoreDep, session: UiSession = Depends(current_session),
                 csrf_token: str = Form(""), path: str = Form(""), recursive: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    parent = browse_url(path.strip("/").rpartition("/")[0])
    try:
        store.delete(path, recursive=bool(recursive))
    except StokerError as exc:
        return refused(request, session, exc, browse_url(path))
    except PathRefused as exc:
        return refused(request, session, InvalidInput(str(exc)), parent)
    return see_other(parent)

