"""A small HTTP client for the native API, used by the CLI and the examples."""

from __future__ import annotations

import os
import time
from typing import Any

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
