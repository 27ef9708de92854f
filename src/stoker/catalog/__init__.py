"""The function catalog: the server-side functions a pipeline's steps name, their typed
arguments, validation of pipelines at submit time, and their execution on Spark.

    catalog = load_catalog()
    catalog.validate(steps, roots)          # PipelineInvalid → 422, PathRefused → 400
    result = catalog.execute(steps, RunContext(spark=lambda: warm.newSession(), roots=roots))

Importing this package does not import pyspark or start Java; that happens when a step runs.
"""

from stoker.catalog.context import RunContext, StepContext
from stoker.catalog.errors import (
                                   Cancelled,
                                   CatalogError,
                                   PathRefused,
                                   PipelineInvalid,
                                   ResultTooLarge,
                                   StepFailed,
)
from stoker.catalog.functions import builtin_functions
from stoker.catalog.paths import StorageRoots
from stoker.catalog.registry import ENTRY_POINT_GROUP, Catalog, load_catalog
from stoker.catalog.spec import Arg, FunctionSpec, function

__all__ = [
    "ENTRY_POINT_GROUP", "Arg", "Cancelled", "Catalog", "CatalogError", "FunctionSpec",
    "PathRefused", "PipelineInvalid", "ResultTooLarge", "RunContext", "StepContext", "StepFailed",
    "StorageRoots", "builtin_functions", "function", "load_catalog",
]
