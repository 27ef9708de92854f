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

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from stoker.catalog.errors import CatalogError, PipelineInvalid
from stoker.catalog.explain import explain
from stoker.catalog.paths import StorageRoots, is_remote
from stoker.catalog.validate import BoundStep

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stoker.catalog.registry import Catalog

_LOG = logging.getLogger("stoker.catalog.submit_check")


def reads_local_files(plan: Sequence[BoundStep]) -> bool:
    """Whether a checked plan reads a local path (a read, join or union of a file under the roots)."""
    return any(step.spec.needs_spark and any(
        step.spec.arg_for(pos).path and isinstance(value, str) and not is_remote(value)
        for pos, value in enumerate(step.values)) for step in plan)


class ColumnCheck:
    """`check(steps, roots)`: raises PipelineInvalid naming the unknown columns Spark's analyser
    finds, explaining on the process's explain session (app/explain_spark.py)."""

    def __init__(self, catalog: Catalog, spark: Callable[[], AbstractContextManager[SparkSession | None]]) -> None:
        self.catalog = catalog
        self.spark = spark

    def applies(self, steps: Any, roots: StorageRoots) -> bool:
        """Whether submitting `steps` (valid) needs the explanation: it reads a local file."""
        return reads_local_files(self.catalog.validate(steps, roots))

    def __call__(self, steps: Any, roots: StorageRoots) -> None:
        try:
            with self.spark() as session:
                if session is None:  # no session runs yet: the submit does not wait for a JVM
                    return
                explain(self.catalog, steps, roots, session)
        except PipelineInvalid as exc:
            unknown = [problem for problem in exc.problems if problem.get("column")]
            if unknown:
                raise PipelineInvalid(unknown) from None
        except CatalogError:
            return  # the submit's own checks passed: the run reports the rest, as before
        except Exception:  # no Spark here, or it failed: the run still runs, unchecked
            _LOG.warning("a pipeline could not be explained at submit; it is queued unchecked", exc_info=True)
