"""Submit mode: one spark-submit driver per attempt — its own Spark application, isolated from the
worker. The spec (with any secrets) goes through a 0600 file, never the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from stoker.config import Settings
from stoker.core.routing import SPARK_SUBMIT
from stoker.core.s3_ways import EXECUTORS, choose_way
from stoker.core.secrets import write_private
from stoker.core.spark_conf import effective, is_runtime
from stoker.executors import conf as attempt_conf
from stoker.executors.base import Execution
from stoker.executors.spark_session import FAST_DEFAULTS, SHORT_LIVED_JVM, driver_address, driver_conf
from stoker.executors.staging import run_staged

DRIVER = Path(__file__).with_name("submit_driver.py")


class SubmitFailed(Exception):
    """The driver failed; `permanent` is the driver's own judgement (executors/failures.py)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def spark_submit_path() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


class SparkSubmitExecutor:
    name = SPARK_SUBMIT

    def __init__(self, settings: Settings, roots: Any,
                 listener: Callable[[str], dict[str, str]] | None = None, catalog: Any = None) -> None:
        self.settings = settings
        self.roots = roots
        self.listener = listener or (lambda _job_name: {})
        self.catalog = catalog  # finds the S3 paths to stage; without one, S3 is left to the driver

    def command(self, execution: Execution, workdir: Path) -> list[str]:
        """spark-submit with its settings in a 0600 properties file (the listener token among them
        never shows on a command line). The run's own settings come over the server's and the
        cluster's (docs/spark-conf.md); Stoker's listener and the app's name over everything."""
        target = execution.target
        conf = {**FAST_DEFAULTS, **SHORT_LIVED_JVM, **driver_conf(self.master_of(execution)),
                **self.settings.spark_conf, **(target.conf if target else {}),
                **attempt_conf.own(execution), **self.listener(execution.claimed.job_name),
                "spark.app.name": execution.job_group}  # how the run's events are found while it runs
        properties = workdir / "spark.properties"
        write_private(properties, "".join(f"{k} {_escape(v)}\n" for k, v in conf.items()).encode())
        return [spark_submit_path(), "--master", self.master_of(execution),
                "--properties-file", str(properties),
                str(DRIVER), str(workdir / "spec.json"), str(workdir / "result.json")]

    def master_of(self, execution: Execution) -> str:
        return execution.target.master if execution.target is not None else self.settings.spark_master

    def execute(self, execution: Execution) -> Any:
        steps = execution.claimed.steps or []
        roots = self.roots.for_team(execution.claimed.team)  # the run's team's files, no other's
        paths = self.catalog.s3_paths(steps, roots) if self.catalog is not None else []
        if not paths:
            return self._submit(execution, steps, roots, execution.secrets.get("s3"))
        # The driver's classpath is pyspark's own, without hadoop-aws: never the direct way. On a
        # cluster the driver has the executors read and write S3 (the keys go to it in the 0600
        # spec file, never into a Spark conf); else the worker stages, and the driver gets no keys.
        if choose_way(s3a=False, master=self.master_of(execution), on_cluster=execution.target is not None,
                      override=self.settings.s3_way) == EXECUTORS:
            return self._submit(execution, steps, roots, None, executors_s3={
                "s3": execution.secrets.get("s3"), "attempt_id": execution.claimed.attempt_id,
                "allow_server": self.settings.s3_allow_server_credentials,
                "server_endpoint": self.settings.s3_endpoint_url})
        return run_staged(execution, self.settings, paths, steps, roots,
                          lambda staged: self._submit(execution, staged.steps, staged.roots, None))

    def _submit(self, execution: Execution, steps: list[Any], roots: Any, s3: dict[str, Any] | None,
                executors_s3: dict[str, Any] | None = None) -> Any:
        with tempfile.TemporaryDirectory(prefix="stoker-submit-") as tmp:
            result_path = Path(tmp) / "result.json"
            write_private(Path(tmp) / "spec.json", orjson.dumps({
                "steps": steps, "storage_root": str(roots.storage_root),
                "extra_roots": [str(r) for r in roots.extra_roots],
                "max_rows": self.settings.result_max_rows, "max_bytes": self.settings.result_max_bytes,
                "s3": s3, "executors_s3": executors_s3,
                # the run's runtime settings again, over the driver's input sizing (catalog/tuning.py)
                "conf": {k: v for k, v in attempt_conf.own(execution).items() if is_runtime(k)},
            }))
            execution.annotate(conf=effective(attempt_conf.layers(execution, self.settings,
                                                                  {**FAST_DEFAULTS, **SHORT_LIVED_JVM})))
            # The driver's environment: Spark's own variables (a protocol with the child process).
            env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
                   "SPARK_LOCAL_IP": (driver_address(self.master_of(execution)) if execution.target is not None
                                      else os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")),
                   "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]),
                                                  os.environ.get("PYTHONPATH", "")])}
            log_path = Path(tmp) / "driver.log"
            execution.log.info("submit mode: spark-submit --master %s", self.master_of(execution))
            with open(log_path, "wb") as log_file:
                proc = subprocess.Popen(self.command(execution, Path(tmp)), env=env,
                                        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
                execution.control.on_cancel(lambda: _stop(proc))
                rc = proc.wait()
            driver_log = log_path.read_text(errors="replace")
            execution.log.info("driver exited with code %s; its log follows", rc)
            execution.attempt_log.append(driver_log)
            outcome = orjson.loads(result_path.read_bytes()) if result_path.exists() else None
        if outcome is not None:
            execution.annotate(spark_app_id=outcome.get("app_id"))
        if outcome is not None and outcome.get("ok"):
            return outcome["result"]
        if outcome is not None:
            raise SubmitFailed(outcome["error"], permanent=bool(outcome.get("permanent")))
        tail = "\n".join(driver_log.strip().splitlines()[-3:])
        raise SubmitFailed(f"spark-submit exited with code {rc} before reporting a result: {tail}")


def _escape(value: str) -> str:
    """Java properties syntax: backslashes and leading spaces are special."""
    return value.replace("\\", "\\\\")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the driver and everything it started: TERM, then KILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
