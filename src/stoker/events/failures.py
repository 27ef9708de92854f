"""A failed run explained: the step that failed and Spark's message (from the run's error, which
names its step: catalog/errors.py StepFailed), and for memory trouble or lost executors, from the
run's own Spark events (events/run_work.py), the stage and executor it happened on and the setting
that would change it. Pure: a run's error and its Spark view in, the explanation out."""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(r"^step (\d+) \(([^)]*)\): (.*)$", re.S)
_OOM = ("OutOfMemoryError", "Java heap space", "GC overhead limit exceeded")
_MEMORY_LIMIT = ("exceeding memory limits", "exit code 137", "exitCode=137", "OOMKilled", "memoryOverhead")
_RESULT_SIZE = "spark.driver.maxResultSize"


def explain_failure(error: str | None, spark: dict[str, Any] | None,
                    conf: dict[str, str] | None = None) -> dict[str, Any] | None:
    """{step, function, message, hints}; None when the run has no error. `conf`: the settings the
    attempt ran with (key -> value), to say what a setting is now."""
    if not error:
        return None
    found = _STEP.match(error.strip())
    step, function, message = (int(found[1]), found[2], found[3]) if found else (None, None, error.strip())
    hints = memory_hints(spark or {}, message, conf or {})
    return {"step": step, "function": function, "message": message, "hints": hints}


def memory_hints(spark: dict[str, Any], message: str, conf: dict[str, str]) -> list[dict[str, Any]]:
    """What the run's Spark events say about memory and lost executors, each naming where it
    happened and the setting to change."""
    hints: list[dict[str, Any]] = []
    local = _is_local(spark)
    for stage in spark.get("stages") or []:
        for failure in stage.get("failures") or []:
            text = f"{failure.get('class_name') or ''} {failure.get('message') or ''}"
            executor = failure.get("executor")
            where = {"stage": stage["stage_id"], "stage_name": stage["name"], "executor": executor}
            if any(word in text for word in _OOM):
                setting = "spark.driver.memory" if local or executor == "driver" else "spark.executor.memory"
                hints.append({**where, "kind": "out_of_memory", "setting": setting, "now": conf.get(setting),
                              "advice": f"a task of stage {stage['stage_id']} ran out of memory on executor "
                                        f"{executor}: raise {setting}, or spark.sql.shuffle.partitions so each "
                                        "task holds less"})
                break
            if failure.get("reason") == "ExecutorLostFailure":
                setting = _lost_setting(text)
                hints.append({**where, "kind": "executor_lost", "setting": setting, "now": conf.get(setting),
                              "advice": f"executor {executor} was lost while running stage {stage['stage_id']} "
                                        f"({failure.get('message')}): raise {setting}"})
                break
    seen = {h["executor"] for h in hints}
    for lost in spark.get("executors_lost") or []:
        if lost["executor"] in seen:
            continue
        reason = lost.get("reason") or ""
        setting = _lost_setting(reason)
        hints.append({"stage": None, "stage_name": None, "executor": lost["executor"], "kind": "executor_lost",
                      "setting": setting, "now": conf.get(setting),
                      "advice": f"executor {lost['executor']} was lost ({reason}): raise {setting}"})
    if not hints and any(word in message for word in _OOM):  # the driver itself (collecting a result)
        hints.append({"stage": None, "stage_name": None, "executor": "driver", "kind": "out_of_memory",
                      "setting": "spark.driver.memory", "now": conf.get("spark.driver.memory"),
                      "advice": "the driver ran out of memory: raise spark.driver.memory, or return fewer rows "
                                "(collect's max_rows, or a write instead)"})
    if _RESULT_SIZE in message:
        hints.append({"stage": None, "stage_name": None, "executor": "driver", "kind": "result_too_large",
                      "setting": _RESULT_SIZE, "now": conf.get(_RESULT_SIZE),
                      "advice": f"the result is larger than {_RESULT_SIZE}: raise it, or write the result "
                                "instead of collecting it"})
    return hints


def _lost_setting(why: str) -> str:
    """A container killed for its memory limit needs more overhead (off-heap); otherwise more heap."""
    return "spark.executor.memoryOverhead" if any(w in why for w in _MEMORY_LIMIT) else "spark.executor.memory"


def _is_local(spark: dict[str, Any]) -> bool:
    """A local master: the only executor is the driver, so memory is the driver's."""
    executors = {f.get("executor") for s in spark.get("stages") or [] for f in s.get("failures") or []}
    return executors <= {"driver", None}
