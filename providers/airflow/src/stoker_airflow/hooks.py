"""`StokerHook`: a connection of type `stoker` (host: Stoker's URL, password: an API token) made
into Stoker's typed client."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from stoker.client import AsyncStokerClient, StokerClient


class StokerHook(BaseHook):
    conn_name_attr = "stoker_conn_id"
    default_conn_name = "stoker_default"
    conn_type = "stoker"
    hook_name = "Stoker"

    def __init__(self, stoker_conn_id: str = default_conn_name, timeout: float = 30.0) -> None:
        super().__init__()
        self.stoker_conn_id = stoker_conn_id
        self.timeout = timeout

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {"hidden_fields": ["schema", "login", "port", "extra"],
                "relabeling": {"host": "Stoker URL", "password": "API token"},
                "placeholders": {"host": "http://stoker:8000", "password": "stk_…"}}

    def url_and_token(self) -> tuple[str, str | None]:
        conn = self.get_connection(self.stoker_conn_id)
        host = (conn.host or "").rstrip("/")
        if host and "://" not in host:
            host = f"{conn.schema or 'http'}://{host}" + (f":{conn.port}" if conn.port else "")
        return host or "http://127.0.0.1:8000", conn.password or None

    def get_client(self) -> StokerClient:
        url, token = self.url_and_token()
        return StokerClient(url, token, timeout=self.timeout)

    def get_async_client(self) -> AsyncStokerClient:
        url, token = self.url_and_token()
        return AsyncStokerClient(url, token, timeout=self.timeout)

    def run_url(self, run_id: str) -> str:
        """The run's page in Stoker's web UI."""
        return f"{self.url_and_token()[0]}/ui/runs/{run_id}"

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self.get_client() as client:
                client.functions()  # needs a valid token, unlike /healthz
        except Exception as exc:  # Airflow's "Test" button shows the message
            return False, str(exc)
        return True, "Connection to Stoker works"
