"""The Airflow provider (providers/airflow) with a real Airflow against a real Stoker: `airflow dags
test` of the example DAG (a pipeline waited for on the worker, a sensor, a job run deferred to the
trigger's long-poll, the XComs checked), and `on_kill` cancelling a running run. Airflow lives in
its own virtualenv (.venv-airflow, made by scripts/airflow_venv.sh from `make setup`): skipped
locally when it is missing, a failure under CI=true."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import harness
from stoker.client import StokerClient

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"
AIRFLOW = ROOT / ".venv-airflow" / "bin" / "airflow"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    if not AIRFLOW.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{AIRFLOW} is missing: `make setup` (scripts/airflow_venv.sh) makes it")
        pytest.skip("no .venv-airflow (scripts/airflow_venv.sh makes it)")
    base = tmp_path_factory.mktemp("airflow")
    server = harness.Server(base / "data").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "STOKER_"))}
    env.update({
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "providers" / "airflow" / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_STOKER_DEFAULT": json.dumps({"conn_type": "stoker", "host": server.url,
                                                   "password": harness.TOKEN}),
    })
    done = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield server, env
    server.stop()


def test_airflow_dags_test_runs_the_example_dag(airflow_env):
    server, env = airflow_env
    with StokerClient(server.url, harness.TOKEN) as stoker:
        stoker.jobs.create("airflow-example", steps=[["noop"]])
        done = subprocess.run([str(AIRFLOW), "dags", "test", "stoker_example", "2026-12-01"], env=env,
                              capture_output=True, text=True, timeout=600)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        assert "STOKER_EXAMPLE_OK" in output, output[-6000:]  # the check task saw both results and the links
        assert "Trigger completed" in output  # job_run was deferred and its trigger ran
        job_runs = list(stoker.jobs.runs("airflow-example"))
        assert [r.state for r in job_runs] == ["SUCCEEDED"]
        assert job_runs[0].params == {"day": "2026-12-01"}  # templated
        assert job_runs[0].idempotency_key.startswith("airflow:stoker_example:job_run:")


ON_KILL = """
import sys, threading, time
from stoker_airflow.operators import StokerRunOperator

class TI:
    dag_id, task_id, run_id, map_index, try_number = "d", "t", "manual", -1, 1
    def xcom_push(self, key, value): print("XCOM", key, value, flush=True)

op = StokerRunOperator(task_id="t", steps=[["sleep", 60], ["noop"]], poll_seconds=1)
outcome = []
def run():
    try:
        op.execute({"ti": TI()})
    except Exception as exc:
        outcome.append(str(exc))
worker = threading.Thread(target=run)
worker.start()
while op.run_id is None:
    time.sleep(0.1)
time.sleep(1)
op.on_kill()
worker.join(60)
print("OUTCOME", outcome, flush=True)
"""


def test_on_kill_cancels_the_run(airflow_env):
    server, env = airflow_env
    done = subprocess.run([str(AIRFLOW_PYTHON), "-c", ON_KILL], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_id = next(line.split()[2] for line in done.stdout.splitlines() if line.startswith("XCOM run_id"))
    assert "CANCELLED" in done.stdout.split("OUTCOME", 1)[1]  # the task failed with the run's state
    with StokerClient(server.url, harness.TOKEN) as stoker:
        assert stoker.runs.get(run_id).state == "CANCELLED"
