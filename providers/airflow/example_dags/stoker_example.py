"""An example DAG over Stoker: a pipeline waited for on the worker, a sensor on its run, a job run
waited for on the triggerer (deferrable), and a check of what the runs handed on as XCom."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from stoker_airflow.operators import StokerRunOperator
from stoker_airflow.sensors import StokerRunSensor


def check(ti) -> None:  # type: ignore[no-untyped-def]
    result = ti.xcom_pull(task_ids="pipeline")
    job_result = ti.xcom_pull(task_ids="job_run")
    run_id = ti.xcom_pull(task_ids="pipeline", key="run_id")
    url = ti.xcom_pull(task_ids="pipeline", key="run_url")
    assert result == {"type": "noop"}, result
    assert job_result == {"type": "noop"}, job_result
    assert run_id and url.endswith(f"/ui/runs/{run_id}"), (run_id, url)
    print(f"STOKER_EXAMPLE_OK {run_id}")


with DAG("stoker_example", start_date=datetime(2026, 1, 1), schedule=None, catchup=False) as dag:
    pipeline = StokerRunOperator(task_id="pipeline", steps=[["noop"]])
    sensed = StokerRunSensor(task_id="sensed", run_id="{{ ti.xcom_pull(task_ids='pipeline', key='run_id') }}",
                             poke_interval=1, timeout=120)
    job_run = StokerRunOperator(task_id="job_run", job="airflow-example", run_params={"day": "{{ ds }}"},
                                deferrable=True, poll_seconds=5)
    checked = PythonOperator(task_id="check", python_callable=check)
    pipeline >> sensed >> job_run >> checked
