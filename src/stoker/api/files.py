"""The files API: put inputs into the storage root, list it, fetch and preview what runs wrote.

`PUT /api/v1/files/{path}` streams the body into place atomically (optional SHA-256 checked),
`GET` downloads a file (with `Range`) or a directory as one zip or tar stream, `GET /api/v1/files`
lists by prefix, `GET …/preview` reads the schema and first rows with pyarrow, `DELETE` removes.
Reading needs `read`; writing and deleting `submit`. docs/files.md says it in words.
"""

from __future__ import annotations

import mimetypes
import os
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathInfo
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.deps import FileStoreDep
from stoker.core import limits
from stoker.core.times import iso
from stoker.files import Entry, FileStore
from stoker.files.preview import MAX_ROWS, preview
from stoker.files.storage import archive_chunks, parse_checksum

router = APIRouter(prefix="/api/v1", tags=["files"])

# A file served from the storage root is data, never a page of this origin: it may not run
# script here, and browsers must not guess it is HTML.
FILE_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"}
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "json": "application/x-ndjson"}
PathParam = Annotated[str, PathInfo(max_length=4096, description="a path relative to the storage root")]


class _FileResponse(FileResponse):
    chunk_size = 1024 * 1024  # one read (one thread hop) per MiB, not per 64 KiB


def entry_view(entry: Entry) -> dict[str, Any]:
    href = "/api/v1/files/" + quote(entry.path)
    links = {"self": href}
    if entry.format is not None:
        links["preview"] = href + "/preview"
    if entry.kind == "directory":
        links["archive"] = href + "?archive=zip"
        links["list"] = "/api/v1/files?prefix=" + quote(entry.path + "/")
    return {"path": entry.path, "name": entry.name, "kind": entry.kind, "size": entry.size,
            "modified_at": iso(entry.modified_at), "format": entry.format, "links": links}


@router.get("/files", summary="List files and directories by prefix",
            dependencies=[Depends(require("read"))], responses={404: {"description": "no such directory"}})
def list_files(store: FileStoreDep,
               prefix: Annotated[str, Query(max_length=4096, description=(
                   "a directory (`out/`) or the start of names in one (`out/ad`); empty: the root"))] = "",
               recursive: Annotated[bool, Query(description="every file below, not just the directory's entries")]
               = False,
               limit: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE, description="page size")] = 100,
               cursor: Annotated[str | None, Query(max_length=4096,
                                                   description="`next_cursor` of the previous page")] = None,
               ) -> dict[str, Any]:
    """Entries in path order with size (files), modification time, kind and the format a preview
    would read; `next_cursor` is set while more remain."""
    entries, next_cursor = store.list_entries(prefix, recursive=recursive, limit=limit, cursor=cursor)
    return {"prefix": prefix, "files": [entry_view(e) for e in entries], "next_cursor": next_cursor}


@router.get("/files/{path:path}/preview", summary="The schema and first rows of a CSV, JSON lines or Parquet "
            "file or directory", dependencies=[Depends(require("read"))],
            responses={404: {"description": "no such file or directory"}, 400: {"description": "a refused path"}})
def preview_file(path: PathParam, store: FileStoreDep,
                 rows: Annotated[int, Query(ge=1, le=MAX_ROWS, description="rows to show")] = 20,
                 format: Annotated[Literal["csv", "json", "parquet"] | None,
                                   Query(description="read as this format (default: from the name)")] = None,
                 header: Annotated[bool, Query(description="CSV: the first line names the columns")] = True,
                 ) -> dict[str, Any]:
    """Read with pyarrow, never Spark, and at most `STOKER_FILES_PREVIEW_MAX_BYTES` bytes (8 MiB by
    default; `bytes_read` says how many): a directory written by Spark shows its part files' rows."""
    rel, where, _st = store.existing(path)
    return preview(rel, where, rows=rows, max_bytes=store.limits.preview_max_bytes, fmt=format,
                   header=header).as_dict()


@router.api_route("/files/{path:path}/preview", methods=["PUT", "DELETE", "POST", "PATCH", "OPTIONS"],
                  include_in_schema=False,
                  dependencies=[Depends(require("read"))])
async def preview_is_read_only(path: PathParam) -> JSONResponse:
    """`…/preview` is the preview of `…`, read-only: another method there is 405, never a write of a
    file named `preview` (a reserved name)."""
    return JSONResponse({"detail": f"/api/v1/files/{path}/preview is the preview of {path!r} and only answers GET; "
                                   "'preview' is a reserved name for files"}, status_code=405, headers={"Allow": "GET"})


@router.head("/files/{path:path}", include_in_schema=False, dependencies=[Depends(require("read"))])
@router.get("/files/{path:path}", summary="Download a file (Range supported), "
            "or a directory as one archive", dependencies=[Depends(require("read"))],
                  response_class=Response, responses={200: {"content": {"application/octet-stream": {}}},
                                                      206: {"description": "the range asked for"},
                                                      400: {"description": "a refused path"},
                                                      404: {"description": "no such file or directory"},
                                                      413: {"description": "a directory with more files than "
                                                                           "STOKER_FILES_MAX_ARCHIVE_FILES"},
                                                      416: {"description": "a range outside the file"}})
async def download_file(path: PathParam, store: FileStoreDep,
                        archive: Annotated[Literal["zip", "tar"] | None, Query(
                            description="a directory as one streamed archive")] = None) -> Response:
    """A file as it is on disk, with `Range` (one range), `ETag`, `Last-Modified` and
    `Content-Length`; a directory (a Spark output) with `?archive=zip` or `?archive=tar`, streamed as
    it is read, files stored uncompressed."""
    if archive is not None:
        return await run_in_threadpool(archive_response, store, path, archive)
    rel, where, st = await run_in_threadpool(store.file_to_read, path)
    return file_response(rel, str(where), st)


def file_response(rel: str, where: str, st: os.stat_result, *, inline: bool = False) -> Response:
    from stoker.files.storage import format_of_name

    name = rel.rsplit("/", 1)[-1]
    media = MEDIA_TYPES.get(format_of_name(name) or "") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/") and "charset" not in media:
        media += "; charset=utf-8"
    return _FileResponse(where, stat_result=st, media_type=media, filename=name, headers=FILE_HEADERS,
                         content_disposition_type="inline" if inline else "attachment")


def archive_response(store: FileStore, path: str, fmt: Literal["zip", "tar"]) -> Response:
    top, _where, members = store.archive_members(path)
    media = "application/zip" if fmt == "zip" else "application/x-tar"
    filename = quote(f"{top}.{fmt}")
    headers = {**FILE_HEADERS, "Content-Disposition": f"attachment; filename*=utf-8''{filename}",
               "X-Archive-Files": str(len(members))}
    return StreamingResponse(archive_chunks(members, fmt), media_type=media, headers=headers)


@router.put("/files/{path:path}", summary="Upload a file (streamed; atomic; optional SHA-256)",
            dependencies=[Depends(require("edit"))], status_code=201,
            responses={200: {"description": "an existing file was replaced (?overwrite=true)"},
                       400: {"description": "a refused path, a checksum mismatch or a body shorter than announced"},
                       409: {"description": "the file exists (send ?overwrite=true), or a directory is in the way"},
                       413: {"description": "larger than STOKER_FILES_MAX_BYTES, or the directory is full"},
                       507: {"description": "the server's disk is full; nothing was written"}},
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_file(path: PathParam, request: Request, store: FileStoreDep,
                   overwrite: Annotated[bool, Query(description="replace the file if it exists")] = False,
                   content_digest: Annotated[str | None, Header(max_length=1024, description=(
                       "RFC 9530: `sha-256=:<base64>:` checked before the file is published"))] = None,
                   x_checksum_sha256: Annotated[str | None, Header(max_length=64, description=(
                       "the file's SHA-256 in hex, checked before the file is published"))] = None,
                   ) -> JSONResponse:
    """The body is the file's bytes, streamed to a temporary file beside the target and renamed
    into place once complete, flushed and checked: readers see the old file or the new one, never
    part of one. Parent directories are created. A path that exists answers 409 unless
    `?overwrite=true`. 201 when created, 200 when replaced."""
    sha256 = parse_checksum(content_digest, x_checksum_sha256)
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    done = await store.upload(path, request.stream(), overwrite=overwrite, length=length, sha256=sha256)
    body = entry_view(done.entry)
    if done.sha256 is not None:
        body["sha256"] = done.sha256
    return JSONResponse(body, status_code=201 if done.created else 200,
                        headers={"Location": body["links"]["self"]})


@router.delete("/files/{path:path}", summary="Delete a file, or a directory (?recursive=true)",
               dependencies=[Depends(require("edit"))], status_code=204,
               responses={400: {"description": "a refused path"}, 404: {"description": "no such file or directory"},
                          409: {"description": "a directory that is not empty, without ?recursive=true"}})
def delete_file(path: PathParam, store: FileStoreDep,
                recursive: Annotated[bool, Query(description="a directory with everything in it")] = False,
                ) -> Response:
    store.delete(path, recursive=recursive)
    return Response(status_code=204)
