"""The cluster spec a product's template renders to, validated before anything is launched.

It accepts the Big Data PaaS original's shape: `nodes` maps a node name to its `cpu`, `mem` (MB) and
optionally `docker_image`, `disks`, `networks`; `services` maps a service name to its `nodes` and its
configuration (`conf`: e.g. the Spark conf of the master or of the workers). A service may say which
`role` its nodes play for an orchestrator (`master`, `worker`); extra fields are kept as given.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stoker.core.errors import InvalidInput


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    cpu: int = Field(ge=1, le=1024, description="cores offered by the node (a limit, not a reservation)")
    mem: int = Field(ge=64, le=16 * 1024 * 1024, description="memory in MB")
    docker_image: str | None = None
    disks: Any = None
    networks: Any = None


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    nodes: list[str] = Field(min_length=1)
    role: str | None = Field(default=None, description="what its nodes are to an orchestrator, e.g. master")
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)


class ClusterSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    nodes: dict[str, NodeSpec] = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _services_name_nodes(self) -> ClusterSpec:
        for name, service in self.services.items():
            unknown = [n for n in service.nodes if n not in self.nodes]
            if unknown:
                raise ValueError(f"service {name!r} names node(s) {unknown} that are not in `nodes`")
        return self

    def service_of(self, node: str) -> str | None:
        return next((name for name, s in self.services.items() if node in s.nodes), None)

    def role_of(self, node: str) -> str | None:
        """The node's role: its service's `role`, else the service name's hint (…master / …worker)."""
        for name, service in self.services.items():
            if node in service.nodes:
                if service.role:
                    return service.role
                for hint in ("master", "worker"):
                    if hint in name.lower():
                        return hint
        return None

    def needs(self) -> tuple[int, int]:
        """(cores, MB) the cluster takes from the registered capacity."""
        return (sum(n.cpu for n in self.nodes.values()), sum(n.mem for n in self.nodes.values()))


def validate_spec(document: Any) -> ClusterSpec:
    """A rendered template as a ClusterSpec, or InvalidInput naming the field that is wrong."""
    try:
        return ClusterSpec.model_validate(document)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()]
        raise InvalidInput("the rendered template is not a valid cluster spec: " + "; ".join(problems),
                           problems=problems) from None
