"""Stoker's Python client: typed, sync (`StokerClient`) and async (`AsyncStokerClient`), over the
native API (docs/client.md).

    from stoker.client import StokerClient
    with StokerClient() as stoker:                      # STOKER_URL / STOKER_TOKEN, or `stoker login`
        run = stoker.runs.submit([["range", 5], ["collect"]])
        print(stoker.runs.wait(run.id).result)

It imports httpx, pydantic and the API's request models only (never the server's dependencies), so
it installs beside anything (the Airflow provider uses it)."""

from stoker.client.aio import AsyncStokerClient
from stoker.client.config import config_path, read_config, resolve, write_config
from stoker.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServerError,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from stoker.client.models import TERMINAL, Event, Run
from stoker.client.retry import NO_RETRY, Retry
from stoker.client.sync import StokerClient

__all__ = ["NO_RETRY", "TERMINAL", "ApiError", "AsyncStokerClient", "BadRequest", "Conflict", "Event", "Forbidden",
           "NotFound", "Retry", "Run", "ServerError", "StokerClient", "Unauthorized", "Unavailable", "Unreachable",
           "config_path", "read_config", "resolve", "write_config"]
