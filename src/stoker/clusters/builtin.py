"""The product every Stoker has out of the box: `spark-standalone` 4.3, Spark's own standalone
master and workers (pyspark's jars), run by the `local` orchestrator."""

from __future__ import annotations

from typing import Any

SPARK_STANDALONE = "spark-standalone"
SPARK_STANDALONE_VERSION = "4.3"

TEMPLATE = """{
  "nodes": {
    "master": {"cpu": 1, "mem": {{ opts['master.mem'] }}},
{%- for i in range(opts['size']) %}
    "worker{{ i }}": {"cpu": {{ opts['worker.cores'] }}, "mem": {{ opts['worker.mem'] }}}
    {%- if not loop.last %},{% endif %}
{%- endfor %}
  },
  "services": {
    "spark-master": {"role": "master", "nodes": ["master"],
                     "conf": {"daemon.memory": "{{ opts['daemon.memory'] }}"}},
    "spark-worker": {"role": "worker",
                     "nodes": [{% for i in range(opts['size']) -%}
                               "worker{{ i }}"{% if not loop.last %}, {% endif %}
                               {%- endfor %}],
                     "conf": {"daemon.memory": "{{ opts['daemon.memory'] }}"}}
  }
}
"""

OPTIONS: dict[str, Any] = {
    "required": {},
    "optional": {"size": 2, "worker.cores": 1, "worker.mem": 512},
    "advanced": {"master.mem": 256, "daemon.memory": "256m"},
    "descriptions": {
        "size": "number of worker nodes",
        "worker.cores": "cores each worker offers to executors",
        "worker.mem": "memory (MB) each worker offers to executors",
        "master.mem": "memory (MB) counted for the master against the capacity",
        "daemon.memory": "heap of the master and worker JVMs themselves (SPARK_DAEMON_MEMORY)",
    },
}

DESCRIPTION = "Apache Spark 4.3 standalone cluster: one master and `size` workers, as local JVM processes"
