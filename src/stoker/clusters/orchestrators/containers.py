"""The `containers` orchestrator: each node of a cluster is a container of the image its spec names
(`docker_image`), with its `cpu` and `mem` as limits, on the host the scheduler placed it on: the
registered host's container API (docs/hosts.md), or for the host `local` the container runtime of
container jobs (STOKER_DOCKER_HOST or the private Podman service of `stoker serve`). Another host may
not share this machine's disk: there a node's configuration is copied into its container.

Containers carry labels naming their cluster and node, so they are found by label, never by a name
or id kept in memory: a restarted Stoker (with a new Podman API socket) finds them as they are, and
stopping a node removes whatever container carries its labels. Nodes run on the runtime's default
network (each gets its own address, recorded as the node's host) with their node name as hostname.
A node runs its image's own command unless the spec gives `command` (a list or a string) and `env`.

An image the local runtime does not have fails the launch saying so (no registry may be reachable
from this machine: it is never pulled behind the user's back); another host pulls the images it
needs from their registry. A node is ready when its container runs.

Spark nodes (`"spark": true` on every node; services with roles master and worker, as for `local`)
run Spark's standalone master or worker in their container without a Spark image: the host's Java,
pyspark's jars and Stoker's venv with its Python (which the executors' Python workers run) are
mounted read-only (with /usr, /lib, /lib64 and the JDK's /etc/java* files, so any small image such
as the built-in busybox one will do; a self-contained Spark image would weigh about 700 MB; every
host must have them at the paths this machine has), on the host's
network, listening on the host's address (loopback for `local`), so drivers and the other nodes
reach them. The container's memory limit is the node's `mem` plus the daemon's heap and
256 MB of JVM overhead (the worker's executors run inside it). Ready = the master's `/json` lists
every worker ALIVE.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from stoker.clusters import processes
from stoker.clusters.orchestrator import Context, NodeFailed, host_of, workdir_of
from stoker.clusters.orchestrators import local
from stoker.clusters.spec import ClusterSpec
from stoker.core.errors import InvalidInput, Unavailable
from stoker.store.hosts import Host
from stoker.store.records.clusters import Cluster, Node

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

LABEL_CLUSTER = "io.stoker.cluster"
LABEL_NODE = "io.stoker.cluster.node"
CONF_MOUNT = "/etc/stoker"  # the node's configuration, inside its container
NODE_DIR = "/stoker"  # a Spark node's work and log directories, inside its container on another host
LOG_TAIL_LINES = 20
API_TIMEOUT_SECONDS = 60
HOST_MOUNTS = ("/usr", "/lib", "/lib64", "/etc/alternatives")  # the host's Java and its libraries
JVM_OVERHEAD_MB = 256
MASTER_WAIT_SECONDS = 60.0


class ImageMissing(NodeFailed):
    pass


class ContainersOrchestrator:
    name = "containers"
    description = ("each node as a container of its docker_image (cpu and mem as limits) on the container "
                   "runtime (Podman or Docker through the Docker Engine API)")
    uses_capacity = True

    def __init__(self, context: Context) -> None:
        self.context = context

    def _client(self, host_name: str | None = None) -> docker.DockerClient:
        """The container API of a node's host; this machine's when it names none (or `local`)."""
        hosts = self.context.hosts
        if not self._on_this_machine(host_name) and hosts is not None:
            return hosts.docker_client(host_name, timeout=API_TIMEOUT_SECONDS)
        runtime = self.context.containers
        if runtime is None or not runtime.available:
            reason = runtime.reason if runtime is not None else "no container runtime"
            raise Unavailable(f"the containers orchestrator needs a container runtime: {reason}")
        return runtime.client(timeout=API_TIMEOUT_SECONDS)

    def _on_this_machine(self, host_name: str | None) -> bool:
        hosts = self.context.hosts
        return host_name is None or hosts is None or hosts.store.get(host_name).local

    def _remote_hosts(self) -> bool:
        hosts = self.context.hosts
        return hosts is not None and any(not h.local for h in hosts.store.list())

    # -- launch -----------------------------------------------------------------------------
    def check(self, spec: ClusterSpec, options: dict[str, Any]) -> None:
        if not spec.nodes:
            raise InvalidInput("the containers orchestrator needs at least one node")
        without = sorted(name for name, node in spec.nodes.items() if not node.docker_image)
        if without:
            raise InvalidInput(f"the containers orchestrator runs each node as a container of its docker_image; "
                               f"node(s) {without} name none", nodes=without)
        for name, node in spec.nodes.items():
            _command(name, node.model_dump())
            _env(name, node.model_dump())
        spark = {name for name, node in spec.nodes.items() if _is_spark(node.model_dump())}
        if spark and spark != set(spec.nodes):
            raise InvalidInput(f"either every node of a containers cluster runs Spark (`spark`: true) or "
                               f"none does; node(s) {sorted(set(spec.nodes) - spark)} do not")
        if spark:
            local.check_standalone(spec, "the containers orchestrator with Spark nodes")
            if shutil.which("java") is None:
                raise Unavailable("Spark nodes need Java on this host (it is mounted into their containers)")
        runtime = self.context.containers
        if (runtime is None or not runtime.available) and not self._remote_hosts():
            self._client()  # raises Unavailable with the runtime's reason

    def runs_on(self, host: Host) -> bool:
        if host.local:
            return self.context.containers is not None and self.context.containers.available
        return True  # through its container API

    def plan(self, cluster: Cluster, spec: ClusterSpec, hosts: Mapping[str, Host]) -> list[Node]:
        base = self.context.cluster_dir(cluster.id)
        nodes = []
        for name, node in spec.nodes.items():
            service = spec.service_of(name)
            workdir = base / _safe(name)
            _write_conf(cluster, spec, name, workdir / "conf")
            row = Node(cluster_id=cluster.id, name=name, service=service, role=spec.role_of(name), cpu=node.cpu,
                       mem=node.mem, host=None, port=None, web_port=None, workdir=str(workdir), state="planned",
                       pid=None, pid_started_at=None)
            if _is_spark(node.model_dump()):
                (workdir / "work").mkdir(exist_ok=True)
                (workdir / "logs").mkdir(exist_ok=True)
                address = hosts[name].address if name in hosts else local.HOST
                row = msgspec.structs.replace(row, host=address, port=_port(address), web_port=_port(address))
            nodes.append(row)
        return nodes

    def urls(self, cluster: Cluster, nodes: list[Node]) -> tuple[str, str | None]:
        master = next((n for n in nodes if n.role == "master" and n.port), None)
        if master is None:  # not a Spark cluster: runs on it fail in Spark, naming this URL
            return f"containers://{cluster.id}", None
        return f"spark://{master.host}:{master.port}", f"http://{master.host}:{master.web_port}"

    def start(self, cluster: Cluster, node: Node) -> dict[str, Any]:
        import docker.errors

        spec = ClusterSpec.model_validate(cluster.spec).nodes[node.name].model_dump()
        image = spec["docker_image"]
        client = self._client(node.host_name)
        # On this machine the node's directory is mounted from our disk, as it always was; another
        # host may not share it, so there the configuration goes with the container, through the API.
        shared_disk = self._on_this_machine(node.host_name)
        conf_dir = workdir_of(node) / "conf" if shared_disk else self._conf_dir(cluster, node)
        try:
            self._image(client, image, node)
            _remove(client, cluster.id, node.name)  # one left by an earlier start of this node
            args: dict[str, Any] = {
                "command": _command(node.name, spec), "environment": _env(node.name, spec),
                "hostname": _hostname(node.name), "mem": node.mem}
            if shared_disk:
                args["volumes"] = {str(workdir_of(node) / "conf"): {"bind": CONF_MOUNT, "mode": "ro"}}
            if _is_spark(spec):
                if node.role == "worker":
                    self._wait_for_master(cluster)
                args.update(_spark_args(cluster, node, conf_dir, shared_disk=shared_disk))
            mem = args.pop("mem")
            container = client.containers.create(
                image, name=f"stoker-{cluster.id[:8]}-{_safe(node.name)}",
                labels={LABEL_CLUSTER: cluster.id, LABEL_NODE: node.name},
                nano_cpus=int(node.cpu * 1e9), mem_limit=f"{mem}m", memswap_limit=f"{mem}m", **args)
            if not shared_disk:
                container.put_archive("/", _node_archive(conf_dir, spark=_is_spark(spec)))
            container.start()
            container.reload()
            state = container.attrs.get("State", {})
            return {"pid": state.get("Pid") or None, "pid_started_at": None, "state": "running",
                    "host": node.host if _is_spark(spec) else _address(container.attrs)}
        except docker.errors.APIError as exc:
            _remove(client, cluster.id, node.name)
            raise NodeFailed(f"node {node.name}: the container runtime refused it: {exc.explanation or exc}"
                             ) from None
        finally:
            client.close()

    def _conf_dir(self, cluster: Cluster, node: Node) -> Path:
        """The node's configuration as planned; written again here when this machine does not have
        it: the cluster duties moved to another API replica (its own disk) since the launch."""
        planned = workdir_of(node) / "conf"
        if planned.is_dir():
            return planned
        again = self.context.cluster_dir(cluster.id) / _safe(node.name) / "conf"
        _write_conf(cluster, ClusterSpec.model_validate(cluster.spec), node.name, again)
        return again

    def _image(self, client: docker.DockerClient, image: str, node: Node) -> None:
        """The image on the node's host: there already, or (another host) pulled from its registry."""
        import docker.errors

        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        if not self._on_this_machine(node.host_name):
            try:
                client.images.pull(image)
                return
            except docker.errors.APIError as exc:
                raise ImageMissing(f"node {node.name}: image {image} not found on host {node.host_name}, and "
                                   f"pulling it failed: {exc.explanation or exc}; pull or import it there") from None
        raise ImageMissing(f"node {node.name}: image {image} not found on the container runtime; "
                           f"pull or import it (e.g. `podman pull {image}` or `podman load`)")

    def _master_host(self, address: str) -> str | None:
        """The registered host the master listens on (by its address); None: this machine."""
        hosts = self.context.hosts
        if hosts is None:
            return None
        return next((h.name for h in hosts.store.list() if h.address == address and not h.local), None)

    def _wait_for_master(self, cluster: Cluster) -> None:
        """A worker that finds no master retries only after 5-15 s: start it once the master listens."""
        host, _, port = str(cluster.master_url).removeprefix("spark://").rpartition(":")
        spec = ClusterSpec.model_validate(cluster.spec)
        master = next(n for n in spec.nodes if spec.role_of(n) == "master")
        client = self._client(self._master_host(host))
        deadline = time.monotonic() + MASTER_WAIT_SECONDS
        try:
            while not processes.port_open(host, int(port), timeout=0.2):
                container = _find(client, cluster.id, master)
                if container is None or container.status not in ("created", "running"):
                    raise NodeFailed(f"node {master}: its container exited"
                                     + _tail_text(_logs(container) if container is not None else ""))
                if time.monotonic() > deadline:
                    raise NodeFailed(f"the master at {cluster.master_url} did not listen within "
                                     f"{MASTER_WAIT_SECONDS:.0f} s")
                time.sleep(0.1)
        finally:
            client.close()

    def ready(self, cluster: Cluster, nodes: list[Node]) -> str | None:
        for node in nodes:
            client = self._client(node.host_name)
            try:
                container = _find(client, cluster.id, node.name)
                if container is None:
                    raise NodeFailed(f"node {node.name}: its container is gone")
                if container.status != "running":
                    raise NodeFailed(f"node {node.name}: its container {container.status} (exit code "
                                     f"{container.attrs.get('State', {}).get('ExitCode')})"
                                     + _tail_text(_logs(container)))
            finally:
                client.close()
        if any(n.role == "master" and n.port for n in nodes):
            return local.workers_registered(nodes)
        return None

    # -- watch, stop ---------------------------------------------------------------------------
    def alive(self, node: Node) -> bool:
        client = self._client(node.host_name)
        try:
            container = _find(client, node.cluster_id, node.name)
            return container is not None and container.status == "running"
        finally:
            client.close()

    def stop(self, node: Node) -> None:
        client = self._client(node.host_name)
        try:
            _remove(client, node.cluster_id, node.name)
        finally:
            client.close()

    def log_tail(self, node: Node) -> str:
        try:
            client = self._client(node.host_name)
        except Unavailable:
            return ""
        try:
            container = _find(client, node.cluster_id, node.name)
            return _logs(container) if container is not None else ""
        finally:
            client.close()


def _is_spark(spec: dict[str, Any]) -> bool:
    return spec.get("spark") is True


def _spark_args(cluster: Cluster, node: Node, own_conf: Path, *, shared_disk: bool = True) -> dict[str, Any]:
    """The container of a Spark standalone daemon: the host's Java and pyspark mounted read-only,
    the host's network; on this machine the node's own directories read-write at the same paths,
    on another host directories inside the container (its configuration, from `own_conf` on this
    machine, copied at CONF_MOUNT)."""
    spark_home = str(local.spark_home())
    java = os.path.realpath(shutil.which("java") or "java")
    planned, host = workdir_of(node), host_of(node)
    conf = json.loads((own_conf / "stoker-node.json").read_text())
    workdir, conf_dir = (planned, planned / "conf") if shared_disk else (Path(NODE_DIR), Path(CONF_MOUNT))
    daemon = str(conf.get("daemon.memory", "256m"))
    common = ["--host", host, "--port", str(node.port), "--webui-port", str(node.web_port)]
    if node.role == "master":
        daemon_args = [local.MASTER_CLASS, *common]
    else:
        daemon_args = [local.WORKER_CLASS, str(cluster.master_url), *common, "--cores", str(node.cpu),
                       "--memory", f"{node.mem}m", "--work-dir", str(workdir / "work")]
    volumes = {path: {"bind": path, "mode": "ro"} for path in _host_paths(spark_home)}
    if shared_disk:
        volumes[str(workdir)] = {"bind": str(workdir), "mode": "rw"}
    return {
        "command": [java, f"-Xmx{daemon}", "-cp", f"{conf_dir}/:{spark_home}/jars/*", *daemon_args],
        "environment": {"SPARK_HOME": spark_home, "SPARK_LOCAL_IP": host,
                        "SPARK_CONF_DIR": str(conf_dir), "SPARK_LOG_DIR": str(workdir / "logs"),
                        "SPARK_WORKER_DIR": str(workdir / "work"), "SPARK_SCALA_VERSION": _scala_version(spark_home),
                        "JAVA_HOME": str(Path(java).parent.parent), "PATH": "/usr/local/bin:/usr/bin:/bin"},
        "network_mode": "host", "volumes": volumes, "hostname": None,
        "mem": node.mem + _mb(daemon) + JVM_OVERHEAD_MB}


def _host_paths(spark_home: str) -> list[str]:
    """What a Spark node's container mounts read-only from its host, at the same paths: Java and
    its libraries, pyspark's jars, and the Python of Stoker's venv. The executors a worker starts
    run the driver's Python (PYSPARK_PYTHON, sys.executable of the worker) for Python data
    sources, UDFs and the S3 executors' way (pyarrow): that is this venv at the path every host
    has, and the interpreter it was made from (sys.base_prefix: /usr for Debian's, elsewhere for
    pyenv's or uv's). A path under another one in the list is left out (pyspark lives in the venv)."""
    # Debian's JDK keeps its security files under /etc/java-N-openjdk (linked from its conf/).
    wanted = [*HOST_MOUNTS, *(str(p) for p in sorted(Path("/etc").glob("java*"))), spark_home,
              sys.prefix, sys.base_prefix]
    present = [os.path.normpath(p) for p in dict.fromkeys(wanted) if Path(p).exists()]
    return [p for p in present if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in present)]


def _port(address: str) -> int:
    """A free port on the node's address: checked when it is this machine's; on another host, one
    free here (the same range, very likely free there too: nothing else of ours runs there)."""
    try:
        return processes.free_port(address)
    except OSError:
        return processes.free_port()


def _write_conf(cluster: Cluster, spec: ClusterSpec, name: str, conf_dir: Path) -> None:
    """A node's configuration files: node.json, and a Spark node's Spark settings."""
    node = spec.nodes[name]
    service = spec.service_of(name)
    conf = dict(spec.services[service].conf) if service else {}
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "node.json").write_text(json.dumps(
        {"cluster": cluster.id, "node": name, "service": service, "spec": node.model_dump(), "conf": conf},
        indent=2, default=str))
    if _is_spark(node.model_dump()):
        local.write_spark_conf(conf_dir, conf)


def _parents(path: str) -> list[str]:
    """/etc/stoker → ["/etc", "/etc/stoker"]: the directories an archive must hold for the path."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _node_archive(conf_dir: Path, *, spark: bool) -> bytes:
    """A tar of the node's configuration at CONF_MOUNT (and a Spark node's work and log directories),
    for the container API's archive upload."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs = [*_parents(CONF_MOUNT), *((*_parents(NODE_DIR), f"{NODE_DIR}/work", f"{NODE_DIR}/logs")
                                          if spark else ())]
        for name in dirs:
            info = tarfile.TarInfo(name.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path in sorted(conf_dir.iterdir()):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{CONF_MOUNT.lstrip('/')}/{path.name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _scala_version(spark_home: str) -> str:
    """What spark-class's load-spark-env.sh would set: the worker's launcher of executors needs it
    (without it, it looks for a source build and fails with "Cannot find any build directories")."""
    for jar in Path(spark_home, "jars").glob("scala-library-*.jar"):
        return ".".join(jar.name.removeprefix("scala-library-").split(".")[:2])
    return "2.13"


def _mb(size: str) -> int:
    """A JVM size (256m, 1g, 1024k) in MB."""
    number, unit = size[:-1], size[-1].lower()
    if size.isdigit():
        return max(1, int(size) // (1024 * 1024))
    factor = {"k": 1 / 1024, "m": 1, "g": 1024}.get(unit)
    if factor is None or not number.isdigit():
        raise InvalidInput(f"daemon.memory {size!r} is not a JVM size such as 256m or 1g")
    return max(1, int(int(number) * factor))


def _find(client: docker.DockerClient, cluster_id: str, node: str) -> Container | None:
    found = client.containers.list(all=True, filters={"label": [f"{LABEL_CLUSTER}={cluster_id}",
                                                               f"{LABEL_NODE}={node}"]})
    return found[0] if found else None


def _remove(client: docker.DockerClient, cluster_id: str, node: str) -> None:
    import docker.errors

    for container in client.containers.list(all=True, filters={"label": [f"{LABEL_CLUSTER}={cluster_id}",
                                                                          f"{LABEL_NODE}={node}"]}):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _logs(container: Container) -> str:
    try:
        text = container.logs(tail=LOG_TAIL_LINES).decode(errors="replace")
    except Exception:  # the runtime may have removed it meanwhile
        return ""
    return str(text).strip()


def _tail_text(tail: str) -> str:
    return f"; its log ends with:\n{tail}" if tail else ""


def _address(attrs: dict[str, Any]) -> str | None:
    settings = attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return str(settings["IPAddress"])
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return str(network["IPAddress"])
    return None


def _command(name: str, spec: dict[str, Any]) -> list[str] | str | None:
    command = spec.get("command")
    if command is None or isinstance(command, str) or (
            isinstance(command, list) and all(isinstance(c, str) for c in command)):
        return command or None
    raise InvalidInput(f"node {name}: `command` must be a string or a list of strings", node=name)


def _env(name: str, spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise InvalidInput(f"node {name}: `env` must be an object of names to values", node=name)
    return {k: str(v) for k, v in env.items()}


def _safe(name: str) -> str:
    """A node name as a file and container name part."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "node"


def _hostname(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:63].strip("-") or "node"
