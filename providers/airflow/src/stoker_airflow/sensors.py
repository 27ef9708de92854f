"""`StokerRunSensor`: waits until a run has succeeded; a FAILED or CANCELLED run fails it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException

from stoker_airflow.hooks import StokerHook
from stoker_airflow.operators import finished
from stoker_airflow.triggers import StokerRunTrigger


class StokerRunSensor(BaseSensorOperator):
    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str, stoker_conn_id: str = StokerHook.default_conn_name, deferrable: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.stoker_conn_id = stoker_conn_id
        self.deferrable = deferrable

    def poke(self, context: Any) -> bool:
        with StokerHook(self.stoker_conn_id).get_client() as client:
            run = client.runs.get(self.run_id)
        if run.state in ("FAILED", "CANCELLED"):
            raise AirflowException(f"Stoker run {run.id} {run.state}: {run.error or ''}")
        return run.state == "SUCCEEDED"

    def execute(self, context: Any) -> Any:
        if not self.deferrable or self.poke(context):
            return super().execute(context)
        self.defer(trigger=StokerRunTrigger(self.run_id, self.stoker_conn_id, poll_seconds=min(self.poke_interval, 60)),
                   method_name="execute_complete")
        return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        finished(event)
        return None
