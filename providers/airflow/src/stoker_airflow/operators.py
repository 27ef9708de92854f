"""`StokerRunOperator`: submit a run (ad-hoc steps, or a job's) and wait for it, on the worker or,
deferrable, on the triggerer; `StokerRunLink`: the run's page in Stoker's UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowException

from stoker_airflow.hooks import StokerHook
from stoker_airflow.triggers import StokerRunTrigger

XCOM_RUN_ID = "run_id"
XCOM_RUN_URL = "run_url"


class StokerRunLink(BaseOperatorLink):
    name = "Stoker run"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=XCOM_RUN_URL) or ""


def finished(event: dict[str, Any]) -> Any:
    """The run's result, or AirflowException with its error when it did not succeed."""
    if event["state"] != "SUCCEEDED":
        raise AirflowException(f"Stoker run {event['run_id']} {event['state']}: {event.get('error') or ''}")
    return event.get("result")


class StokerRunOperator(BaseOperator):
    """Submit `steps` (an ad-hoc pipeline) or a run of `job` (with `run_params`), then wait until it
    finishes (`wait_for_completion`); `deferrable=True` waits on the triggerer. XCom: `run_id`,
    `run_url`; the return value is the run's result. A run that does not succeed fails the task."""

    template_fields: Sequence[str] = ("steps", "job", "run_params", "options", "conf", "idempotency_key")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "steps": "json", "run_params": "json", "options": "json", "conf": "json"}
    operator_extra_links = (StokerRunLink(),)
    ui_color = "#f4a261"

    def __init__(self, *, steps: list[Any] | None = None, job: str | None = None,
                 run_params: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                 conf: dict[str, Any] | None = None, idempotency_key: str | None = None,
                 stoker_conn_id: str = StokerHook.default_conn_name, wait_for_completion: bool = True,
                 deferrable: bool = False, poll_seconds: float = 30.0, timeout_seconds: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (steps is None) == (job is None):
            raise ValueError("StokerRunOperator: give either steps (an ad-hoc pipeline) or job (a job's name)")
        self.steps = steps
        self.job = job
        self.run_params = run_params or {}  # (`params` is Airflow's own: its DAG params)
        self.options = options or {}
        self.conf = conf or {}
        self.idempotency_key = idempotency_key
        self.stoker_conn_id = stoker_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.run_id: str | None = None

    def default_key(self, context: Any) -> str:
        """One run per try of this task instance: executing the same try again (a worker lost
        mid-task) finds the run it made; Airflow's retry (a new try) makes a new one."""
        ti = context["ti"]
        return f"airflow:{ti.dag_id}:{ti.task_id}:{ti.run_id}:{ti.map_index}:{ti.try_number}"

    def execute(self, context: Any) -> Any:
        hook = StokerHook(self.stoker_conn_id)
        key = self.idempotency_key or self.default_key(context)
        with hook.get_client() as client:
            if self.job is not None:
                run = client.jobs.submit(self.job, params=dict(self.run_params) or None, options=self.options or None,
                                         conf=self.conf or None, idempotency_key=key)
            else:
                run = client.runs.submit(self.steps, params=dict(self.run_params) or None, options=self.options or None,
                                         conf=self.conf or None, idempotency_key=key)
            self.run_id = run.id
            context["ti"].xcom_push(key=XCOM_RUN_ID, value=run.id)
            context["ti"].xcom_push(key=XCOM_RUN_URL, value=hook.run_url(run.id))
            self.log.info("Stoker run %s %s: %s", run.id, run.state, hook.run_url(run.id))
            if not self.wait_for_completion:
                return None
            if self.deferrable and not run.finished:
                self.defer(trigger=StokerRunTrigger(run.id, self.stoker_conn_id, self.poll_seconds,
                                                    self.timeout_seconds), method_name="execute_complete")
            done = client.runs.wait(run.id, timeout=self.timeout_seconds, poll=self.poll_seconds)
        return finished({"run_id": done.id, "state": done.state, "result": done.result, "error": done.error})

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        self.log.info("Stoker run %s finished on the triggerer: %s", event["run_id"], event["state"])
        return finished(event)

    def on_kill(self) -> None:
        """The task was killed (marked failed, cleared, timed out): cancel its run."""
        if self.run_id is None:
            return
        from stoker.client import Conflict

        with StokerHook(self.stoker_conn_id).get_client() as client:
            try:
                client.runs.cancel(self.run_id)
                self.log.info("Stoker run %s cancelled", self.run_id)
            except Conflict:
                self.log.info("Stoker run %s had finished already", self.run_id)
