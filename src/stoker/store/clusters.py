"""Products and clusters: their rows, the status transitions and the capacity they take.

Every status change is one transaction: the conditional UPDATE (so two processes never both move a
cluster out of the same status), its history row and its outbox event `cluster.<status>`.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import Conflict, NotFound
from stoker.core.states import RunState
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.db import Database
from stoker.store.outbox import notify_work_arrived, record_events, run_event
from stoker.store.records import from_row
from stoker.store.records.clusters import Cluster, Node, Product, SparkPlacement, StatusChange
from stoker.store.tables import cluster_history, cluster_nodes, clusters, jobs, outbox, products, runs, teams

# Statuses in which a cluster holds its share of the capacity.
HOLDING = ("scheduled", "configuring", "configured", "ready", "degraded")
# Statuses a destroy can still act on.
LIVE = ("registered", "scheduling", *HOLDING, "failed")
# Statuses in which runs may execute on the cluster.
SERVING = ("ready", "degraded")
# Statuses after which a run on the cluster can never execute.
GONE = ("failed", "destroyed")
# A QUEUED run for a cluster that is not ready yet waits with this available_at (claims skip it)
# until the cluster is ready.
PARKED_AT = 4_102_444_800.0  # 2100-01-01

def record_cluster_event(conn: Connection, now: float, cluster: Mapping[str, Any], status: str,
                         reason: str | None) -> None:
    """The outbox event of a transition: `cluster.<status>`, outside any run or job."""
    payload = {"cluster_id": cluster["id"], "status": status, "reason": reason,
               "product": cluster["product"], "version": cluster["version"], "owner": cluster["owner"],
               "number": cluster["number"]}
    conn.execute(outbox.insert().values(run_id=None, job_id=None, event=f"cluster.{status}",
                                        payload=payload, created_at=now,
                                        team_id=cluster.get("team_id") or DEFAULT_TEAM))
    notify_work_arrived(conn)  # publishers in other processes (PostgreSQL) see it at once


class ProductStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def create(self, name: str, version: str, *, description: str = "", logo_url: str | None = None,
               options: dict[str, Any], template: str | None = None, template_format: str = "json",
               orchestrator: str | None = None, builtin: bool = False) -> Product:
        now = self.clock()
        try:
            with self.db.write() as conn:
                conn.execute(products.insert().values(
                    name=name, version=version, description=description, logo_url=logo_url,
                    template=template, template_format=template_format, options=options,
                    orchestrator=orchestrator, builtin=builtin, created_at=now, updated_at=now))
        except sa.exc.IntegrityError:
            raise Conflict(f"product {name} {version} already exists", product=name, version=version) from None
        return self.get(name, version)

    def ensure(self, name: str, version: str, **values: Any) -> None:
        """Create the product unless it exists (built-in products, at start)."""
        with self.db.read() as conn:
            found = conn.execute(sa.select(products.c.name).where(
                products.c.name == name, products.c.version == version)).first()
        if found is None:
            try:
                self.create(name, version, **values)
            except Conflict:  # another process made it meanwhile
                pass

    def get(self, name: str, version: str) -> Product:
        with self.db.read() as conn:
            row = conn.execute(sa.select(products).where(products.c.name == name,
                                                         products.c.version == version)).first()
        if row is None:
            raise NotFound(f"no product {name} version {version}", product=name, version=version)
        return from_row(Product, row)

    def names(self) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(sa.select(products.c.name).distinct().order_by(products.c.name)).scalars())

    def versions(self, name: str) -> list[str]:
        with self.db.read() as conn:
            found = list(conn.execute(sa.select(products.c.version).where(products.c.name == name)
                                      .order_by(products.c.created_at)).scalars())
        if not found:
            raise NotFound(f"no product named {name}", product=name)
        return found

    def all(self) -> list[Product]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(products).order_by(products.c.name, products.c.created_at)).all()
        return [from_row(Product, r) for r in rows]

    def update(self, name: str, version: str, **values: Any) -> None:
        with self.db.write() as conn:
            done = conn.execute(products.update().where(products.c.name == name, products.c.version == version)
                                .values(**values, updated_at=self.clock())).rowcount
        if not done:
            raise NotFound(f"no product {name} version {version}", product=name, version=version)


class ClusterStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    # -- register ---------------------------------------------------------------------------
    def register(self, *, owner: str, product: str, version: str, size: int | None,
                 options: dict[str, Any], spec: dict[str, Any] | Callable[[str, int], dict[str, Any]],
                 orchestrator: str, needs: tuple[int, int], team: str = DEFAULT_TEAM) -> Cluster:
        """Insert a cluster in status `registered` (its history row and event with it). `spec` may
        be a function of the cluster's id and number, called once both are known (a template that
        renders them, e.g. the original PaaS's `{{ clusterid }}`, sees their real values)."""
        cluster_id = str(uuid.uuid4())
        for _ in range(5):  # two launches racing for the same number: the loser takes the next
            now = self.clock()
            try:
                with self.db.write() as conn:
                    number = conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(clusters.c.number), 0) + 1).where(
                            clusters.c.owner == owner, clusters.c.product == product,
                            clusters.c.version == version)).scalar_one()
                    values = {"id": cluster_id, "owner": owner, "product": product, "version": version,
                              "number": number, "status": "registered", "size": size, "options": options,
                              "spec": spec(cluster_id, number) if callable(spec) else spec,
                              "orchestrator": orchestrator, "needs_cores": needs[0],
                              "needs_mem": needs[1], "created_at": now, "updated_at": now, "team_id": team}
                    conn.execute(clusters.insert().values(**values))
                    self._history(conn, now, values, "registered", None)
                break
            except sa.exc.IntegrityError:
                continue
        return self.get(cluster_id)

    # -- transitions --------------------------------------------------------------------------
    def transition(self, cluster_id: str, to: str, *, allowed_from: Iterable[str], reason: str | None = None,
                   **values: Any) -> bool:
        """Move the cluster to `to` if it is in one of `allowed_from`; False (and nothing written)
        when it is not (another process or a destroy moved it first)."""
        now = self.clock()
        with self.db.write() as conn:
            row = conn.execute(
                clusters.update().where(clusters.c.id == cluster_id, clusters.c.status.in_(list(allowed_from)))
                .values(status=to, reason=reason, updated_at=now, **values)
                .returning(clusters.c.id, clusters.c.product, clusters.c.version, clusters.c.owner,
                           clusters.c.number, clusters.c.team_id)).first()
            if row is None:
                return False
            self._history(conn, now, row._asdict(), to, reason)
            if to == "ready":
                release_parked_runs(conn, now, cluster_id)
            elif to in GONE:
                fail_queued_runs(conn, now, cluster_id, f"cluster {cluster_id} is {to}"
                                 + (f" ({reason})" if reason and to == "failed" else ""))
        return True

    def _history(self, conn: Connection, now: float, cluster: Mapping[str, Any], status: str,
                 reason: str | None) -> None:
        conn.execute(cluster_history.insert().values(cluster_id=cluster["id"], status=status, reason=reason,
                                                     at=now))
        record_cluster_event(conn, now, cluster, status, reason)

    def set_reason(self, cluster_id: str, reason: str | None) -> None:
        """Why a cluster waits (no transition, so no history row or event)."""
        with self.db.write() as conn:
            conn.execute(clusters.update()
                         .where(clusters.c.id == cluster_id, clusters.c.reason.is_distinct_from(reason))
                         .values(reason=reason))

    def set_urls(self, cluster_id: str, master_url: str, web_url: str | None) -> None:
        """A repair that moved the master to another host: where runs find it now."""
        with self.db.write() as conn:
            conn.execute(clusters.update().where(clusters.c.id == cluster_id)
                         .values(master_url=master_url, web_url=web_url, updated_at=self.clock()))

    # -- repairs ---------------------------------------------------------------------------
    def request_repair(self, cluster_id: str) -> bool:
        """Record that a repair is asked for; False when the cluster is not degraded."""
        with self.db.write() as conn:
            done = conn.execute(clusters.update().where(clusters.c.id == cluster_id,
                                                        clusters.c.status == "degraded")
                                .values(repair_requested_at=self.clock())).rowcount
        return bool(done)

    def take_repair_requests(self) -> list[str]:
        """The degraded clusters whose repair was asked for, the requests cleared (taken)."""
        with self.db.write() as conn:
            taken = list(conn.execute(
                clusters.update().where(clusters.c.repair_requested_at.is_not(None))
                .values(repair_requested_at=None)
                .returning(clusters.c.id, clusters.c.status)).all())
        return [row.id for row in taken if row.status == "degraded"]

    # -- nodes -----------------------------------------------------------------------------
    def set_nodes(self, cluster_id: str, nodes: builtins.list[Node]) -> None:
        now = self.clock()
        with self.db.write() as conn:
            conn.execute(cluster_nodes.delete().where(cluster_nodes.c.cluster_id == cluster_id))
            if nodes:
                conn.execute(cluster_nodes.insert(), [{**msgspec.structs.asdict(n), "cluster_id": cluster_id,
                                                       "updated_at": now} for n in nodes])

    def update_node(self, cluster_id: str, name: str, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(cluster_nodes.update().where(cluster_nodes.c.cluster_id == cluster_id,
                                                      cluster_nodes.c.name == name)
                         .values(**values, updated_at=self.clock()))

    def nodes(self, cluster_id: str) -> builtins.list[Node]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(cluster_nodes).where(cluster_nodes.c.cluster_id == cluster_id)
                                .order_by(cluster_nodes.c.name)).all()
        return [from_row(Node, r) for r in rows]

    # -- reads -----------------------------------------------------------------------------
    # Reads take `team`: another team's cluster is not found (None: every team's, an admin's).
    def get(self, cluster_id: str, team: str | None = None) -> Cluster:
        query = sa.select(clusters).where(clusters.c.id == cluster_id)
        if team is not None:
            query = query.where(clusters.c.team_id == team)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no cluster with id {cluster_id!r}", cluster=cluster_id)
        return from_row(Cluster, row)

    def find(self, cluster_id: str, team: str | None = None) -> Cluster | None:
        try:
            return self.get(cluster_id, team)
        except NotFound:
            return None

    def by_number(self, owner: str, product: str, version: str, number: int,
                  team: str | None = None) -> Cluster:
        query = sa.select(clusters).where(clusters.c.owner == owner, clusters.c.product == product,
                                          clusters.c.version == version, clusters.c.number == number)
        if team is not None:
            query = query.where(clusters.c.team_id == team)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no cluster {owner}/{product}/{version}/{number}")
        return from_row(Cluster, row)

    def history(self, cluster_id: str) -> builtins.list[StatusChange]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(cluster_history).where(cluster_history.c.cluster_id == cluster_id)
                                .order_by(cluster_history.c.id)).all()
        return [from_row(StatusChange, r) for r in rows]

    def list(self, *, owner: str | None = None, status: str | None = None,
             product: str | None = None, statuses: Iterable[str] | None = None,
             team: str | None = None) -> builtins.list[Cluster]:
        query = sa.select(clusters)
        if team is not None:
            query = query.where(clusters.c.team_id == team)
        if owner is not None:
            query = query.where(clusters.c.owner == owner)
        if status is not None:
            query = query.where(clusters.c.status == status)
        if statuses is not None:
            query = query.where(clusters.c.status.in_(list(statuses)))
        if product is not None:
            query = query.where(clusters.c.product == product)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(clusters.c.seq)).all()
        return [from_row(Cluster, r) for r in rows]

    def gone_with_nodes_up(self) -> builtins.list[str]:
        """Clusters destroyed or failed with a node not recorded as stopped."""
        query = (sa.select(clusters.c.id).distinct()
                 .join(cluster_nodes, cluster_nodes.c.cluster_id == clusters.c.id)
                 .where(clusters.c.status.in_(list(GONE)), cluster_nodes.c.state != "stopped"))
        with self.db.read() as conn:
            return list(conn.execute(query).scalars())

    def release_parked(self) -> int:
        """A sweep for a run parked while its cluster turned ready (submit and transition raced)."""
        with self.db.write() as conn:
            return release_parked_runs(conn, self.clock())

    def team_room(self, team: str) -> tuple[int | None, int | None]:
        """(cores, MB) the team may still take under its quotas (None: no limit) with the clusters
        it holds now."""
        with self.db.read() as conn:
            quota = conn.execute(sa.select(teams.c.max_cores, teams.c.max_memory_mb)
                                 .where(teams.c.id == team)).first()
            if quota is None or (quota.max_cores is None and quota.max_memory_mb is None):
                return None, None
            cores, mem = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(clusters.c.needs_cores), 0),
                          sa.func.coalesce(sa.func.sum(clusters.c.needs_mem), 0))
                .where(clusters.c.status.in_(HOLDING), clusters.c.team_id == team)).one()
        return (None if quota.max_cores is None else quota.max_cores - int(cores),
                None if quota.max_memory_mb is None else quota.max_memory_mb - int(mem))

    def used(self) -> tuple[int, int]:
        """(cores, MB) held by admitted clusters."""
        with self.db.read() as conn:
            cores, mem = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(clusters.c.needs_cores), 0),
                          sa.func.coalesce(sa.func.sum(clusters.c.needs_mem), 0))
                .where(clusters.c.status.in_(HOLDING))).one()
        return int(cores), int(mem)


# -- runs on clusters ----------------------------------------------------------------------------

def _cluster_of_run() -> sa.ColumnElement[str]:
    cluster: sa.ColumnElement[str] = runs.c.options["cluster"].as_string()
    return cluster


def release_parked_runs(conn: Connection, now: float, cluster_id: str | None = None) -> int:
    """Make the parked runs of a ready cluster (or of every ready cluster) claimable."""
    serving = sa.select(clusters.c.id).where(clusters.c.status.in_(SERVING))
    if cluster_id is not None:
        serving = serving.where(clusters.c.id == cluster_id)
    released = conn.execute(
        runs.update().where(runs.c.state == "QUEUED", runs.c.available_at >= PARKED_AT,
                            _cluster_of_run().in_(serving.scalar_subquery()))
        .values(available_at=now, error=None)).rowcount
    if released:
        notify_work_arrived(conn)
    return int(released or 0)


def fail_queued_runs(conn: Connection, now: float, cluster_id: str, why: str) -> None:
    """Runs still queued for a cluster that is gone can never run: FAILED, saying why."""
    error = f"{why}: this run can never execute on it"
    failed = conn.execute(
        runs.update().where(runs.c.state == "QUEUED", _cluster_of_run() == cluster_id)
        .values(state="FAILED", finished_at=now, error=error)
        .returning(runs.c.id, runs.c.job_id)).all()
    names = {row.id: row.name for row in conn.execute(
        sa.select(jobs.c.id, jobs.c.name).where(jobs.c.id.in_({r.job_id for r in failed})))} if failed else {}
    record_events(conn, now, [run_event("failed", run_id=r.id, job_id=r.job_id, job=names[r.job_id],
                                        state=RunState.FAILED, error=error) for r in failed])


def parked_reason(db: Database, cluster_id: str, team: str | None = None) -> str | None:
    """None when runs may start on the cluster now; else why a new run waits (it is parked).
    NotFound (another team's cluster too) / Conflict when it never can."""
    query = sa.select(clusters.c.status).where(clusters.c.id == cluster_id)
    if team is not None:
        query = query.where(clusters.c.team_id == team)
    with db.read() as conn:
        status = conn.execute(query).scalar()
    if status is None:
        raise NotFound(f"no cluster with id {cluster_id!r}", cluster=cluster_id)
    if status in GONE:
        raise Conflict(f"cluster {cluster_id} is {status}: runs can no longer execute on it",
                       cluster=cluster_id, status=status)
    if status in SERVING:
        return None
    return f"waiting for cluster {cluster_id} to be ready (it is {status})"


def _planned_workers(conn: sa.Connection, cluster_id: str) -> list[tuple[int, int]]:
    """(cores, memory MiB) of each worker node recorded for a cluster (once planned)."""
    rows = conn.execute(sa.select(cluster_nodes.c.cpu, cluster_nodes.c.mem).where(
        cluster_nodes.c.cluster_id == cluster_id, cluster_nodes.c.role == "worker")).all()
    return [(int(row.cpu), int(row.mem)) for row in rows]


def worker_sizes(db: Database, cluster_id: str) -> list[tuple[int, int]]:
    """(cores, memory MiB) of each worker node of a cluster: its nodes once planned, before that its
    spec's (none for an external cluster, or one with no such cluster)."""
    with db.read() as conn:
        planned = _planned_workers(conn, cluster_id)
        spec = conn.execute(sa.select(clusters.c.spec).where(clusters.c.id == cluster_id)).scalar()
    if planned:
        return planned
    if not isinstance(spec, dict):
        return []
    nodes = spec.get("nodes") or {}
    names = [name for service in (spec.get("services") or {}).values()
             if isinstance(service, dict) and service.get("role") == "worker" for name in service.get("nodes") or []]
    sizes = [nodes[name] for name in names if isinstance(nodes.get(name), dict)]
    return [(int(size.get("cpu") or 1), int(size.get("mem") or 0)) for size in sizes]


def spark_target(db: Database, cluster_id: str) -> SparkPlacement:
    """Where a run on the cluster sends its Spark work: status, master URL, and the conf that fits
    its workers (executors no larger than the smallest worker offers)."""
    with db.read() as conn:
        row = conn.execute(sa.select(clusters.c.status, clusters.c.master_url)
                           .where(clusters.c.id == cluster_id)).first()
        workers = _planned_workers(conn, cluster_id)
    if row is None:
        raise NotFound(f"no cluster with id {cluster_id!r}", cluster=cluster_id)
    conf: dict[str, str] = {}
    if workers:
        conf["spark.executor.memory"] = f"{min(mem for _cpu, mem in workers)}m"
        conf["spark.executor.cores"] = str(min(cpu for cpu, _mem in workers))
    return SparkPlacement(status=row.status, master_url=row.master_url, conf=conf)


def cluster_record(db: Database, cluster_id: str) -> SparkPlacement | None:
    """`spark_target`, or None when there is no such cluster."""
    try:
        return spark_target(db, cluster_id)
    except NotFound:
        return None
