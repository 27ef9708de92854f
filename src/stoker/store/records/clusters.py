"""Records of products, clusters, their nodes and their status history (store/clusters.py reads
them; orchestrators plan and are handed nodes as these records too)."""

from __future__ import annotations

from typing import Any

import msgspec


class Product(msgspec.Struct, frozen=True, kw_only=True):
    """A cluster blueprint: a template, its options and an orchestrator under a name and version."""

    name: str
    version: str
    description: str
    logo_url: str | None
    template: str | None  # Jinja2 text, rendered per launch; None until one is put
    template_format: str  # json | yaml
    options: dict[str, Any]  # {"required", "optional", "advanced", "descriptions"}
    orchestrator: str | None  # None: chosen by the nodes
    builtin: bool
    created_at: float
    updated_at: float


class Cluster(msgspec.Struct, frozen=True, kw_only=True):
    """An instance of a product: its status, the rendered spec and what it takes."""

    id: str
    seq: int
    owner: str
    product: str
    version: str
    number: int  # 1, 2, … per owner, product and version
    status: str
    reason: str | None  # why it waits, failed or is degraded
    size: int | None
    options: dict[str, Any]
    spec: dict[str, Any]  # the rendered template (clusters/spec.py ClusterSpec, dumped)
    orchestrator: str
    needs_cores: int
    needs_mem: int
    master_url: str | None
    web_url: str | None
    created_at: float
    updated_at: float
    team_id: str = "default"  # the team it belongs to (docs/teams.md)


class Node(msgspec.Struct, frozen=True, kw_only=True):
    """One process or container of a cluster: as an orchestrator plans it (state `planned`, not
    stored yet: no `updated_at`), then as recorded, with its process once started."""

    cluster_id: str
    name: str
    service: str | None
    role: str | None  # master | worker | … (its service's)
    cpu: int
    mem: int  # MB
    host: str | None
    port: int | None
    web_port: int | None
    pid: int | None  # the process (group) and its start time: a recycled pid is not taken for it
    pid_started_at: float | None
    state: str  # planned | running | dead | stopped
    workdir: str | None
    updated_at: float | None = None
    host_name: str | None = None  # the registered host it was placed on (docs/hosts.md)


class SparkPlacement(msgspec.Struct, frozen=True, kw_only=True):
    """Where a run on a cluster sends its Spark work: the cluster's status and master URL, and the
    executor settings that fit its workers (no larger than the smallest worker offers). A remote
    worker gets it with the attempt it claims, as JSON."""

    status: str
    master_url: str | None
    conf: dict[str, str]


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """A row of a cluster's history: the status it moved to, when and why."""

    status: str
    reason: str | None
    at: float
