from __future__ import annotations

from pathlib import Path

import pytest

from stoker.core.errors import InvalidInput
from stoker.core.secrets import REDACTED, SecretBox, redacted_view, split_secrets
from stoker.core.states import Outcome, RunState, backoff_delay, next_state_after
from stoker.executors.base import s3a_conf
from stoker.executors.failures import short_error
from stoker.submission.runs import substitute_params


def test_next_state_after():
    assert next_state_after(Outcome.SUCCEEDED, 1, 3) is RunState.SUCCEEDED
    assert next_state_after(Outcome.FAILED, 1, 3) is RunState.QUEUED
    assert next_state_after(Outcome.LOST, 2, 3) is RunState.QUEUED
    assert next_state_after(Outcome.FAILED, 3, 3) is RunState.FAILED
    assert next_state_after(Outcome.CANCELLED, 1, 3) is RunState.CANCELLED


def test_a_cancel_is_never_lost_to_another_ending():
    # Issue 8: a run asked to stop whose attempt then timed out (or was lost, or failed) was re-queued.
    for outcome in (Outcome.TIMED_OUT, Outcome.LOST, Outcome.FAILED, Outcome.CANCELLED):
        assert next_state_after(outcome, 1, 3, cancel_requested=True) is RunState.CANCELLED
        assert next_state_after(outcome, 3, 3, cancel_requested=True) is RunState.CANCELLED
    assert next_state_after(Outcome.SUCCEEDED, 1, 3, cancel_requested=True) is RunState.SUCCEEDED


def test_backoff():
    assert backoff_delay("constant", 5, 3) == 5
    assert [backoff_delay("exponential", 2, n) for n in (1, 2, 3)] == [2, 4, 8]
    assert backoff_delay("exponential", 10, 30) == 3600
    assert backoff_delay("exponential", 0, 3) == 0


def test_substitute_params_keeps_types():
    steps = [["range", "{{n}}"], ["filter", "id > {{ low }}"], ["collect"]]
    assert substitute_params(steps, {"n": 10, "low": 3}) == [["range", 10], ["filter", "id > 3"], ["collect"]]
    with pytest.raises(InvalidInput, match="'n'"):
        substitute_params(steps, {"low": 1})


def test_route_is_one_rule_for_lane_and_executor():
    from stoker.catalog import load_catalog
    from stoker.core.routing import EXECUTOR_BY_LANE, Route

    catalog = load_catalog()
    assert catalog.route([["noop"]]) == Route("instant", "inline")
    assert catalog.route([["fail", "x"]]) == ("instant", "inline")  # a (lane, executor) tuple
    assert catalog.route([["sleep", 1], ["noop"]]) == ("spark", "inline")  # waits, but needs no Spark
    assert catalog.route([["sate_ping"]]) == ("spark", "inline")
    assert catalog.route([["range", 1], ["count"]]) == ("spark", "spark_session")
    assert catalog.route([["range", 1], ["count"]], mode="submit") == ("spark", "spark_submit")
    assert catalog.route(None, kind="container") == ("container", "container")
    # Unknown or malformed steps never skip Spark nor take the instant lane.
    assert catalog.route([["no_such_function"]]) == ("spark", "spark_session")
    assert catalog.route([]) == ("spark", "spark_session")
    # What the claim records up front agrees with route() for the lanes that fix their executor.
    assert {"instant": catalog.route([["noop"]]).executor,
                                "container": catalog.route(None, kind="container").executor} == EXECUTOR_BY_LANE


def test_instant_functions_need_no_spark():
    from stoker.catalog import function

    with pytest.raises(ValueError, match="instant function cannot need Spark"):
        @function(kind="action", instant=True)
        def quick(sc, frame):
            return None


def test_short_error_drops_stack_lines():
    exc = RuntimeError("[UNRESOLVED_COLUMN] column `x` cannot be resolved.\n"
                       "JVM stacktrace:\norg.apache.spark.sql.AnalysisException\n\tat org.apache.Foo(Foo.scala:1)")
    text = short_error(exc)
    assert text.startswith("RuntimeError: [UNRESOLVED_COLUMN]") and "at org.apache" not in text


def test_secrets_sealed_and_redacted(tmp_path):
    box = SecretBox.from_settings(None, tmp_path)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    public, secret = split_secrets({"s3": {"aws_secret_access_key": "S"}, "x": 1})
    assert public == {"x": 1}
    sealed = box.seal(secret)
    assert "S\"" not in sealed and box.open(sealed) == secret
    assert SecretBox.from_settings(None, tmp_path).open(sealed) == secret  # same key file reused
    assert redacted_view(public, True) == {"x": 1, "s3": REDACTED}


def test_s3a_conf():
    conf = s3a_conf({"aws_access_key_id": "A", "aws_secret_access_key": "B", "fs.s3a.path.style.access": "true"})
    assert conf == {"fs.s3a.access.key": "A", "fs.s3a.secret.key": "B", "fs.s3a.path.style.access": "true",
                    "fs.s3a.impl.disable.cache": "true"}


def test_permanent_failures_are_the_ones_a_retry_cannot_fix():
    from pyspark.errors import AnalysisException

    from stoker.catalog.errors import PathRefused, ResultTooLarge, StepFailed
    from stoker.executors.failures import is_permanent
    from stoker.executors.submit_mode import SubmitFailed

    def wrapped(cause: BaseException) -> StepFailed:
        try:
            raise StepFailed(1, "filter", "Spark refused it") from cause
        except StepFailed as exc:
            return exc

    class JvmAnalysisError(AnalysisException):
        """Shaped like the errors py4j raises from the JVM (their conditions are the JVM's)."""

        def __init__(self, condition: str) -> None:
            Exception.__init__(self, condition)
            self.condition = condition
            self._message = condition

        def getCondition(self) -> str:
            return self.condition

    column = JvmAnalysisError("UNRESOLVED_COLUMN.WITH_SUGGESTION")
    missing = JvmAnalysisError("PATH_NOT_FOUND")
    assert is_permanent(wrapped(column))  # Spark's error, seen through the step that ran it
    assert not is_permanent(wrapped(missing))  # the file may still arrive
    assert is_permanent(PathRefused(0, "/etc/passwd", "outside the storage roots"))
    assert is_permanent(ResultTooLarge("too big"))
    assert not is_permanent(StepFailed(0, "fail", "on purpose"))  # fail() exists to test retries
    assert not is_permanent(RuntimeError("executor lost"))
    assert is_permanent(SubmitFailed("bad", permanent=True))
    assert not is_permanent(SubmitFailed("driver died"))


def test_docs_runs_md_lists_every_transition():
    import re
    from pathlib import Path

    from stoker.core.states import TRANSITIONS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "runs.md").read_text()
    rows = re.findall(r"^\| (claim|cancel|cluster_gone|end|retry) \| ([A-Z]+) \| ([A-Z]+) \| (.+?) \|$", doc,
                      re.MULTILINE)
    assert rows == [(t.action, t.source.value, t.target.value, t.when) for t in TRANSITIONS]


def test_next_state_after_stays_in_the_table():
    from stoker.core.states import RunState, next_state_after, targets

    allowed = targets("end", RunState.RUNNING)
    for outcome in Outcome:
        for done, most in ((1, 3), (3, 3)):
            for auto in (True, False):
                for cancel in (True, False):
                    assert next_state_after(outcome, done, most, auto, cancel) in allowed


def test_validation_names_the_catalogs_endings():
    from stoker.catalog import PipelineInvalid, StorageRoots, load_catalog

    with pytest.raises(PipelineInvalid) as refused:
        load_catalog().validate([["range", 3]], StorageRoots(Path("/tmp")))
    message = str(refused.value.problems)
    assert "fail" in message and "sate_ping" in message and "collect" in message
