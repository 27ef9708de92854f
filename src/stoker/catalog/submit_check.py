"""A column typo refused at submit (issue 30): a Spark pipeline that reads a local file is explained
(catalog/explain.py) before it is queued, and a step Spark's analyser refuses for an unknown column
is a 422 naming the step, the column and Spark's suggestion; nothing is queued.

Only that refusal. Whatever else an explanation may find (a file not there yet, which may be
written before the run starts; a type the CSV sample guesses otherwise than Spark would infer) is
left to the run to report, as before, and so is a pipeline whose input schema is not known without
running it (an S3 input no run has read yet). A pipeline that reads no local file is not explained:
its check is one look at its bound arguments, so submitting one costs what it did.

The check runs only on a Spark session that is already up (the embedded worker's warm session, or
the API process's explain session, which the first such submit starts in the background): a
submit never waits for a JVM to start, so the few submits before it is up are queued unchecked and
their runs report the typo as before.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from stoker.catalog.errors import CatalogError, PipelineInvalid
from stoker.catalog.explain import explain
from stoker.catalog.paths import StorageRoots, is_remote
from stoker.catalog.schema_cache import signature
from stoker.catalog.validate import BoundStep

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stoker.catalog.registry import Catalog

_LOG = logging.getLogger("stoker.catalog.submit_check")


def local_inputs(plan: Sequence[BoundStep]) -> list[str]:
    """The local paths a checked plan reads (a read, join or union of a file under the roots)."""
    return [value for step in plan if step.spec.needs_spark
            for pos, value in enumerate(step.values)
            if step.spec.arg_for(pos).path and isinstance(value, str) and not is_remote(value)]


def reads_local_files(plan: Sequence[BoundStep]) -> bool:
    return bool(local_inputs(plan))


# Pipelines that passed, remembered with their inputs' signatures (the schema cache's: sizes and
# times, a directory's every file): a job submitted again over unchanged files (the nightly job, a
# client's retry loop) is not analysed again. Inputs without a signature are analysed every time.
PASSED_KEPT = 1024


class ColumnCheck:
    """`check(steps, roots)`: raises PipelineInvalid naming the unknown columns Spark's analyser
    finds, explaining on the process's explain session (app/explain_spark.py)."""

    def __init__(self, catalog: Catalog, spark: Callable[[], AbstractContextManager[SparkSession | None]]) -> None:
        self.catalog = catalog
        self.spark = spark
        self._passed: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def applies(self, steps: Any, roots: StorageRoots) -> bool:
        """Whether submitting `steps` (valid) needs the explanation: it reads a local file."""
        return reads_local_files(self.catalog.validate(steps, roots))

    def __call__(self, steps: Any, roots: StorageRoots) -> None:
        try:
            plan = self.catalog.validate(steps, roots)
            inputs = local_inputs(plan)
            signatures = [signature(path) for path in inputs]
            key = json.dumps([steps, signatures], sort_keys=True, default=str) if None not in signatures else None
            with self._lock:
                if key is not None and key in self._passed:
                    self._passed.move_to_end(key)
                    return
            with self.spark() as session:
                if session is None:  # no session runs yet: the submit does not wait for a JVM
                    return
                explained = explain(self.catalog, steps, roots, session)
            if explained.get("plan") is None or key is None:  # not all checked, or not to be known again
                return
            with self._lock:
                self._passed[key] = None
                while len(self._passed) > PASSED_KEPT:
                    self._passed.popitem(last=False)
        except PipelineInvalid as exc:
            unknown = [problem for problem in exc.problems if problem.get("column")]
            if unknown:
                raise PipelineInvalid(unknown) from None
        except CatalogError:
            return  # the submit's own checks passed: the run reports the rest, as before
        except Exception:  # no Spark here, or it failed: the run still runs, unchecked
            _LOG.warning("a pipeline could not be explained at submit; it is queued unchecked", exc_info=True)
