"""An attempt's Spark settings (docs/spark-conf.md): its layers as the executor applies them, the
effective configuration it records on its run, and the part a running session can take."""

from __future__ import annotations

from collections.abc import Mapping

from stoker.config import Settings
from stoker.core import spark_conf
from stoker.executors.base import Execution


class ConfNotApplicable(Exception):
    """The run holds settings its executor cannot apply (its job's mode changed after it was
    queued): no retry can fix that."""

    permanent = True


def layers(execution: Execution, settings: Settings, defaults: Mapping[str, str]) -> dict[str, Mapping[str, str]]:
    """Every layer of the attempt's configuration, lowest first: Stoker's defaults for the
    executor, the server's (STOKER_SPARK_CONF_DEFAULTS, STOKER_SPARK_JARS), the cluster's, then the
    run's own (its job's and its own, fixed at submit)."""
    target = execution.target
    return {"default": defaults, "server": settings.spark_conf, "cluster": target.conf if target else {},
            **execution.claimed.conf}


def own(execution: Execution) -> dict[str, str]:
    """The run's own settings (job, then run) merged."""
    return spark_conf.merged(execution.claimed.conf)


def runtime(execution: Execution) -> dict[str, str]:
    """The run's own settings for its own session in a running application: only runtime ones can
    apply there; any other was refused at submit, unless the job's mode changed since."""
    conf = own(execution)
    static = sorted(k for k in conf if not spark_conf.is_runtime(k))
    if static:
        raise ConfNotApplicable(
            f"{', '.join(static)} need a Spark application of their own, which a warm session (mode session) "
            "is not: the job's mode changed after this run was queued; give the job mode submit and retry")
    return conf
