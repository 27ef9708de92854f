"""A small HTTP client for the native API, used by the CLI and the examples."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx


class ApiError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class StokerClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("STOKER_URL") or "http://127.0.0.1:8000").rstrip("/")
        token = token or os.environ.get("STOKER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def submit(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        run: dict[str, Any] = self.request("POST", "/api/v1/runs", json=body, headers=headers)
        return run

    def run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.request("GET", f"/api/v1/runs/{run_id}")
        return run

    def wait(self, run_id: str, *, timeout: float = 600.0, on_change: Any = None) -> dict[str, Any]:
        """Poll until the run is finished; `on_change(run)` sees each new state."""
        deadline, last, delay = time.monotonic() + timeout, None, 0.05
        while True:
            run = self.run(run_id)
            if run["state"] != last and on_change is not None:
                on_change(run)
            last = run["state"]
            if run["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {last} after {timeout:g} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    # ---- files (docs/files.md) ----------------------------------------------------------------
    def put_file(self, local: str | os.PathLike[str], remote: str, *, overwrite: bool = False,
                 checksum: bool = False, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Stream a local file to `remote` (relative to the storage root), CHUNK bytes at a time;
        `checksum`: hash it first and let the server check the SHA-256 before it publishes."""
        size = os.path.getsize(local)
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        if checksum:
            headers["X-Checksum-SHA256"] = sha256_of(local)

        def body() -> Iterator[bytes]:
            with open(local, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
                    if progress is not None:
                        progress(len(chunk))

        params = {"overwrite": "true"} if overwrite else {}
        entry: dict[str, Any] = self.request("PUT", files_url(remote), content=body(), headers=headers,
                                             params=params, timeout=httpx.Timeout(self.http.timeout.read, read=None))
        return entry

    def get_file(self, remote: str, local: str | os.PathLike[str], *, archive: str | None = None,
                 progress: Callable[[int], None] | None = None, total: Callable[[int | None], None] | None = None
                 ) -> int:
        """Download `remote` into `local` (written beside it, then renamed: never half a file);
        `archive` ("zip", "tar") for a directory. Returns the bytes written."""
        params = {"archive": archive} if archive else {}
        target = Path(local)
        tmp = target.with_name(f".{target.name}.stoker-part")
        written = 0
        try:
            with self.http.stream("GET", files_url(remote), params=params, timeout=httpx.Timeout(
                    self.http.timeout.read, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                if total is not None:
                    length = response.headers.get("content-length")
                    total(int(length) if length and length.isdigit() else None)
                with open(tmp, "wb") as out:
                    for chunk in response.iter_raw(CHUNK):
                        out.write(chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return written

    def list_files(self, prefix: str = "", *, recursive: bool = False, page: int = 500) -> Iterator[dict[str, Any]]:
        """Every entry whose path starts with `prefix` ("out/": the directory out), following the pages."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"prefix": prefix, "recursive": str(recursive).lower(), "limit": page}
            if cursor:
                params["cursor"] = cursor
            answer = self.request("GET", "/api/v1/files", params=params)
            yield from answer["files"]
            cursor = answer["next_cursor"]
            if not cursor:
                return

    def file_info(self, remote: str) -> dict[str, Any] | None:
        """The entry of `remote`, or None. (A prefix without a final "/" matches names; the exact
        name sorts first among them, so one entry is enough.)"""
        clean = remote.strip("/")
        answer = self.request("GET", "/api/v1/files", params={"prefix": clean, "limit": 1})
        entries = [e for e in answer["files"] if e["path"] == clean]
        return entries[0] if entries else None

    def delete_file(self, remote: str, *, recursive: bool = False) -> None:
        self.request("DELETE", files_url(remote), params={"recursive": "true"} if recursive else {})

    def preview_file(self, remote: str, *, rows: int = 20) -> dict[str, Any]:
        preview: dict[str, Any] = self.request("GET", files_url(remote) + "/preview", params={"rows": rows})
        return preview


CHUNK = 1024 * 1024


def files_url(remote: str) -> str:
    return "/api/v1/files/" + quote(remote.lstrip("/"), safe="/")


def sha256_of(path: str | os.PathLike[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _api_error(response: httpx.Response) -> ApiError:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return ApiError(response.status_code, detail)
