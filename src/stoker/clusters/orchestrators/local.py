"""The `local` orchestrator: each node of a Spark standalone cluster is its own JVM on this host (the
registered host `local`, the machine of the process running the cluster duties), started through
pyspark's `spark-class` (`org.apache.spark.deploy.master.Master` / `…worker.Worker`) on free ports of
that host's address (loopback by default), with its cores and memory, its own work, log and conf directories, in its
own session (it survives a restart of Stoker; stopping it stops its process group).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stoker.clusters import processes
from stoker.clusters.orchestrator import Context, NodeFailed, host_of, master_url_of, workdir_of
from stoker.clusters.spec import ClusterSpec
from stoker.core.errors import InvalidInput
from stoker.store.hosts import Host
from stoker.store.records.clusters import Cluster, Node

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
ROLES = ("master", "worker")


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class LocalOrchestrator:
    name = "local"
    description = "Spark standalone master and workers as JVM processes on this host (pyspark's spark-class)"
    uses_capacity = True

    def __init__(self, context: Context) -> None:
        self.context = context

    # -- launch -----------------------------------------------------------------------------
    def check(self, spec: ClusterSpec, options: dict[str, Any]) -> None:
        check_standalone(spec, "the local orchestrator")

    def runs_on(self, host: Host) -> bool:
        return host.local  # it starts processes on this machine only

    def plan(self, cluster: Cluster, spec: ClusterSpec, hosts: Mapping[str, Host]) -> list[Node]:
        base = self.context.cluster_dir(cluster.id)
        nodes = []
        for name, node in spec.nodes.items():
            address = hosts[name].address if name in hosts else HOST
            service = spec.service_of(name)
            conf = dict(spec.services[service].conf) if service else {}
            workdir = base / name
            (workdir / "conf").mkdir(parents=True, exist_ok=True)
            (workdir / "work").mkdir(exist_ok=True)
            (workdir / "logs").mkdir(exist_ok=True)
            write_spark_conf(workdir / "conf", conf)
            nodes.append(Node(cluster_id=cluster.id, name=name, service=service, role=spec.role_of(name),
                              cpu=node.cpu, mem=node.mem, host=address, port=processes.free_port(address),
                              web_port=processes.free_port(address), workdir=str(workdir), state="planned",
                              pid=None, pid_started_at=None))
        return nodes

    def urls(self, cluster: Cluster, nodes: list[Node]) -> tuple[str, str | None]:
        master = _master(nodes)
        return f"spark://{master.host}:{master.port}", f"http://{master.host}:{master.web_port}"

    def start(self, cluster: Cluster, node: Node) -> dict[str, Any]:
        workdir, host = workdir_of(node), host_of(node)
        conf = json.loads((workdir / "conf" / "stoker-node.json").read_text())
        argv = [str(spark_home() / "bin" / "spark-class")]
        common = ["--host", host, "--port", str(node.port), "--webui-port", str(node.web_port)]
        if node.role == "master":
            argv += [MASTER_CLASS, *common]
        else:
            self._wait_for_master(cluster, node)
            argv += [WORKER_CLASS, master_url_of(cluster), *common, "--cores", str(node.cpu),
                     "--memory", f"{node.mem}m", "--work-dir", str(workdir / "work")]
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": host,
               "SPARK_CONF_DIR": str(workdir / "conf"), "SPARK_LOG_DIR": str(workdir / "logs"),
               "SPARK_WORKER_DIR": str(workdir / "work"), "SPARK_DAEMON_MEMORY": conf.get("daemon.memory", "256m")}
        for key in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR_OVERRIDE"):
            env.pop(key, None)
        pid, started = processes.start(argv, env=env, cwd=workdir, log_path=_log_path(node))
        if node.role == "master":  # the workers' start watches it (a master that dies at once)
            (self.context.cluster_dir(cluster.id) / "master.json").write_text(json.dumps(
                {"pid": pid, "pid_started_at": started, "log": str(_log_path(node))}))
        return {"pid": pid, "pid_started_at": started, "state": "running"}

    def _wait_for_master(self, cluster: Cluster, node: Node) -> None:
        """A worker that finds no master retries only after 5-15 s: start it once the master listens."""
        master = json.loads((self.context.cluster_dir(cluster.id) / "master.json").read_text())
        host, _, port = master_url_of(cluster).removeprefix("spark://").rpartition(":")
        deadline = time.monotonic() + MASTER_WAIT_SECONDS
        while not processes.port_open(host, int(port), timeout=0.2):
            if not processes.alive(master["pid"], master["pid_started_at"]):
                raise NodeDied("master", processes.tail(Path(master["log"])))
            if time.monotonic() > deadline:
                raise NodeDied(node.name, f"the master at {cluster.master_url} did not listen within "
                                             f"{MASTER_WAIT_SECONDS:.0f} s")
            time.sleep(0.05)

    def ready(self, cluster: Cluster, nodes: list[Node]) -> str | None:
        for node in nodes:
            if not processes.alive(node.pid, node.pid_started_at):  # its port may not be open yet
                raise NodeDied(node.name, self.log_tail(node))
        return workers_registered(nodes)

    # -- watch, stop ---------------------------------------------------------------------------
    def alive(self, node: Node) -> bool:
        if not processes.alive(node.pid, node.pid_started_at):
            return False
        return node.port is None or processes.port_open(host_of(node), node.port)

    def stop(self, node: Node) -> None:
        processes.stop_group(node.pid, node.pid_started_at)

    def log_tail(self, node: Node) -> str:
        return processes.tail(_log_path(node))


MASTER_WAIT_SECONDS = 60.0


class NodeDied(NodeFailed):
    def __init__(self, node: str, log_tail: str) -> None:
        super().__init__(f"node {node} exited" + (f"; its log ends with:\n{log_tail}" if log_tail else ""))
        self.node = node


def workers_registered(nodes: list[Node]) -> str | None:
    """None when the master's `/json` lists every worker node ALIVE with its cores; else what is
    still awaited."""
    master = _master(nodes)
    try:
        with urllib.request.urlopen(f"http://{master.host}:{master.web_port}/json", timeout=2) as r:
            state = json.loads(r.read())
    except (OSError, ValueError):
        return "the master's web UI does not answer yet"
    workers = [n for n in nodes if n.role == "worker"]
    alive = {(w.get("host"), w.get("port")): w for w in state.get("workers", []) if w.get("state") == "ALIVE"}
    missing = [n.name for n in workers
               if (n.host, n.port) not in alive or alive[(n.host, n.port)].get("cores") != n.cpu]
    if missing:
        return f"waiting for worker(s) {missing} to register with the master"
    return None


def check_standalone(spec: ClusterSpec, who: str) -> None:
    """Exactly one master and at least one worker, and nothing else (InvalidInput saying so)."""
    roles = {name: spec.role_of(name) for name in spec.nodes}
    masters = [n for n, r in roles.items() if r == "master"]
    workers = [n for n, r in roles.items() if r == "worker"]
    others = sorted(n for n, r in roles.items() if r not in ROLES)
    if others:
        raise InvalidInput(f"{who} runs Spark standalone masters and workers; node(s) "
                           f"{others} belong to no service with role master or worker", nodes=others)
    if len(masters) != 1 or not workers:
        raise InvalidInput(f"{who} needs exactly one master node and at least one worker "
                           f"node; the spec has {len(masters)} master(s) and {len(workers)} worker(s)")


def _master(nodes: list[Node]) -> Node:
    return next(n for n in nodes if n.role == "master")


def _log_path(node: Node) -> Path:
    return workdir_of(node) / "logs" / "node.log"


def write_spark_conf(conf_dir: Path, conf: dict[str, Any]) -> None:
    """spark-defaults.conf from the service's `spark.*` entries; the rest (e.g. daemon.memory) for
    the node's own start, in stoker-node.json."""
    spark = {k: v for k, v in conf.items() if k.startswith("spark.")}
    (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in sorted(spark.items())))
    own = {k: str(v) for k, v in conf.items() if not k.startswith("spark.")}
    (conf_dir / "stoker-node.json").write_text(json.dumps(own))
