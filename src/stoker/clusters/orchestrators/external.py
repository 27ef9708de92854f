"""The `external` orchestrator: a cluster Stoker does not manage (any `spark://`, `yarn` or `k8s://`
master a team already has) is registered so runs can target it; no process is started or stopped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stoker.clusters.orchestrator import Context
from stoker.clusters.spec import ClusterSpec
from stoker.core.errors import InvalidInput
from stoker.store.hosts import Host
from stoker.store.records.clusters import Cluster, Node

SCHEMES = ("spark://", "k8s://", "yarn")


class ExternalOrchestrator:
    name = "external"
    description = "registers an existing Spark master (spark://, yarn, k8s://); manages no process"
    uses_capacity = False

    def __init__(self, context: Context) -> None:
        self.context = context

    def check(self, spec: ClusterSpec, options: dict[str, Any]) -> None:
        master = options.get("master")
        if not isinstance(master, str) or not master.startswith(SCHEMES):
            raise InvalidInput(f"option 'master' must be a Spark master URL starting with one of {list(SCHEMES)}",
                               option="master")

    def runs_on(self, host: Host) -> bool:
        return False  # it starts nothing anywhere

    def plan(self, cluster: Cluster, spec: ClusterSpec, hosts: Mapping[str, Host]) -> list[Node]:
        return []

    def urls(self, cluster: Cluster, nodes: list[Node]) -> tuple[str, str | None]:
        return str(cluster.options["master"]), cluster.options.get("web_url") or None

    def start(self, cluster: Cluster, node: Node) -> dict[str, Any]:
        return {"state": "running"}

    def ready(self, cluster: Cluster, nodes: list[Node]) -> str | None:
        return None

    def alive(self, node: Node) -> bool:
        return True

    def stop(self, node: Node) -> None:
        return None

    def log_tail(self, node: Node) -> str:
        return ""
