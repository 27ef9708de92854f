"""`StokerRunTrigger`: waits for a run on the triggerer, through the server's long-poll (one request
per `poll_seconds`, answered the moment the run finishes), holding no worker slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class StokerRunTrigger(BaseTrigger):
    def __init__(self, run_id: str, stoker_conn_id: str = "stoker_default", poll_seconds: float = 30.0,
                 timeout: float | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.stoker_conn_id = stoker_conn_id
        self.poll_seconds = poll_seconds
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # The connection's id, never its token: what is serialised here is stored in Airflow's database.
        return ("stoker_airflow.triggers.StokerRunTrigger",
                {"run_id": self.run_id, "stoker_conn_id": self.stoker_conn_id, "poll_seconds": self.poll_seconds,
                 "timeout": self.timeout})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        from stoker_airflow.hooks import StokerHook

        hook = StokerHook(self.stoker_conn_id)
        # Reading the connection may go through the Task SDK's supervisor: not on the event loop.
        url, token = await sync_to_async(hook.url_and_token)()
        from stoker.client import AsyncStokerClient

        try:
            async with AsyncStokerClient(url, token) as client:
                run = await client.runs.wait(self.run_id, timeout=self.timeout, poll=self.poll_seconds)
        except TimeoutError as exc:
            yield TriggerEvent({"run_id": self.run_id, "state": "TIMEOUT", "error": str(exc)})
            return
        yield TriggerEvent({"run_id": run.id, "state": run.state, "result": run.result, "error": run.error})
