"""The module dependency rules of docs/architecture.md, enforced: an AST walk over src/stoker that
fails when a module imports what its layer may not. Every import counts, lazy ones inside functions
and those under TYPE_CHECKING included: a lazy import is still a dependency, only a hidden one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "stoker"

# What each layer may import besides itself (docs/architecture.md explains why). A name allows that
# module and everything under it ("api.auth" allows stoker.api.auth only; "store" all of store/).
# "stoker" is the package's __init__ (just __version__).
_SHARED = {"stoker", "core"}
# events, sinks, clusters, containers: domain packages below api, with no routes of their own.
_PEERS = _SHARED | {"store", "config", "services", "parent_watch"}
# Leaves other layers may name: modules that import nothing of Stoker (LEAVES_ARE_LEAVES checks).
LEAVES = ("events.listener_conf", "parent_watch", "config", "events.analysis", "events.summary")
ASSEMBLY = "*"
RULES: dict[str, set[str] | str] = {
    "core": {"stoker"},
    "config": {"stoker", "core"},
    "parent_watch": {"stoker"},
    "store": _SHARED,
    "catalog": _SHARED,
    "executors": _SHARED | {"catalog", "config"},
    "services": _SHARED | {"store", "catalog", "config", "containers"},
    "events": _PEERS | {"tuning"},  # events.tuning_loop: the loop that learns from collected events
    "sinks": _PEERS,
    "clusters": _PEERS | {"containers.runtime"},  # the containers orchestrator runs nodes on the runtime
    "containers": _PEERS,  # the container runtime, image imports, the janitor
    # events.listener_conf: how to attach the collector's JVM listener to a Spark app they start.
    "worker": _SHARED | {"store", "catalog", "executors", "config", "services", "parent_watch",
                         "events.listener_conf"},
    "submission": _SHARED | {"store", "catalog", "services", "tuning"},
    # Jobs' schedules: ticks become runs through the submission service.
    "schedules": _SHARED | {"store", "submission", "services"},
    # files: the storage root as clients see it (list, upload, archive, preview), on the roots' own path check.
    "files": _SHARED | {"catalog", "config"},
    # tuning: the tuning loop's pure rules; it reads events through the collector's pure aggregation.
    "tuning": _SHARED | {"events.analysis"},
    # api holds every native route; it calls the plain functions of events, sinks and clusters.
    "api": _SHARED | {"store", "submission", "config", "services", "catalog", "events", "sinks", "clusters",
                      "schedules", "files", "tuning"},
    # The cluster service (with its views and request bodies) is to the PaaS adapter what the
    # submission service is to the run adapters: the one way in, never a router.
    # api.fastpath: how a hot endpoint reads and answers (SQLite reads on the loop, orjson bytes),
    # shared with the adapters as api.auth is; api.deps: the typed dependencies every router takes.
    # events.intake: the Delight agent's adapter hands its translated payloads to the collector's
    # own check and store (the one way events land), as the PaaS adapter uses the cluster service.
    "compat": _SHARED | {"store", "submission", "services", "api.auth", "api.views", "api.fastpath", "api.deps",
                         "api.body_limit", "clusters.service", "clusters.views", "clusters.bodies", "events.intake"},
    # ui: what api uses (api itself, and the plain functions of events, sinks, clusters), never compat.
    "ui": _SHARED | {"store", "submission", "config", "services", "catalog", "api", "events", "sinks", "clusters",
                     "schedules", "files", "tuning"},
    "app": ASSEMBLY, "cli": ASSEMBLY,
    # The Python client is installed beside anything (the Airflow provider's environment holds none of the
    # server's dependencies): it names only the API's pure pydantic schemas, never a router or a store.
    "client": _SHARED | {"api.models", "api.schemas"},
}

# Imports that break the rules today, each with why it is still here; later slices remove them.
# (importer module, imported module) — both exact.
ALLOWED_EXCEPTIONS: dict[tuple[str, str], str] = {
    # Arrived with the clusters, containers and UI merges (07:40), not yet reworked:
    # services builds the cluster service; ClusterService should take what it needs from below
    # (store, settings) so services names it without importing clusters' routers' package.
    ("stoker.services", "stoker.clusters"): "ClusterService/ClusterSettings built in services",
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[tuple[str, int]]:
    """Every stoker module `path` imports (absolute or relative, at any depth), with its line."""
    module = _module_name(path, root)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from stoker.x import y` may name a module y: check the most precise name.
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name == "stoker" or name.startswith("stoker.")]


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "stoker"


def _allowed(target: str, allowed: set[str]) -> bool:
    return any(target == f"stoker.{a}" or target.startswith(f"stoker.{a}.") or
               (a == "stoker" and target in ("stoker", "stoker.__version__")) for a in allowed)


def _excused(module: str, target: str, pair: tuple[str, str]) -> bool:
    return module == pair[0] and (target == pair[1] or target.startswith(pair[1] + "."))


def breaches(root: Path) -> list[tuple[str, str, str]]:
    """Every import that breaks RULES, as (importer, imported, `file:line: why`)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        layer = _layer(module)
        rule = RULES.get(layer)
        if rule is None and layer != "stoker":
            found.append((module, "", f"{path}: layer {layer!r} has no row in RULES "
                                      "(add one, and one to docs/architecture.md)"))
            continue
        if rule == ASSEMBLY or layer == "stoker":
            continue
        assert isinstance(rule, set)
        for target, line in imports_of(path, root):
            if _layer(target) != layer and not _allowed(target, rule):
                found.append((module, target, f"{path}:{line}: {module} -> {target} "
                                              f"({layer} may import {sorted(rule)})"))
    return found


def violations(root: Path, exceptions: dict[tuple[str, str], str]) -> list[str]:
    return [why for module, target, why in breaches(root)
            if not any(_excused(module, target, pair) for pair in exceptions)]


def test_imports_follow_the_module_rules() -> None:
    assert violations(SRC, ALLOWED_EXCEPTIONS) == []


def test_leaves_import_nothing_of_stoker_but_core() -> None:
    """The modules other layers may name one by one must not pull their package in behind them
    (a leaf may name another leaf: events.analysis reads events.summary's task records)."""
    for leaf in LEAVES:
        path = SRC.joinpath(*leaf.split(".")).with_suffix(".py")
        named = {t.removeprefix("stoker.") for t, _ in imports_of(path, SRC) if t != "stoker"}
        # A name imported from a leaf (stoker.events.summary.X) is that leaf's.
        others = {t for t in named if not any(t == other or t.startswith(other + ".") for other in LEAVES)}
        assert {t.split(".")[0] for t in others} <= {"core"}, leaf


def test_every_allowed_exception_is_still_needed() -> None:
    """An exception that no longer excuses anything goes: the list only shrinks."""
    found = breaches(SRC)
    assert [pair for pair in ALLOWED_EXCEPTIONS
            if not any(_excused(module, target, pair) for module, target, _ in found)] == []


# SQL lives in the store only (DESIGN.md): no other module — domain packages (events, sinks,
# clusters …), routers, adapters, assembly (app.py, cli/) alike — imports sqlalchemy at run time
# (a type under TYPE_CHECKING is fine) or opens a transaction (a Database's write()/read()).
SQL_HOME = "stoker.store"


def sql_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [f"{path}:{node.lineno}: imports {n}" for n in names if n.split(".")[0] == "sqlalchemy"]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("write", "read")
                and ((isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "db")
                     or (isinstance(node.func.value, ast.Name) and node.func.value.id == "db"))):
            found.append(f"{path}:{node.lineno}: opens a transaction (db.{node.func.attr}())")
    return found


def no_sql_violations(root: Path) -> list[str]:
    return [hit for path in sorted(root.rglob("*.py"))
            if not (_module_name(path, root) + ".").startswith(SQL_HOME + ".")
            for hit in sql_in(path)]


# Transactions a router or adapter still opens (with why); later slices move them into the store.
SQL_EXCEPTIONS: dict[str, str] = {}


def test_only_the_store_holds_sql() -> None:
    assert [hit for hit in no_sql_violations(SRC) if not any(f in hit for f in SQL_EXCEPTIONS)] == []


@pytest.mark.parametrize("package", ["events", "sinks", "clusters", "worker", "cli"])
def test_planted_sql_in_a_domain_package_fails(tmp_path: Path, package: str) -> None:
    root = tmp_path / "stoker"
    (root / package).mkdir(parents=True)
    (root / "store").mkdir()
    (root / "store" / "ok.py").write_text("import sqlalchemy as sa\ndef f(db):\n    with db.write():\n        pass\n")
    (root / package / "bad.py").write_text("import sqlalchemy as sa\ndef f(db):\n    with db.read():\n        pass\n")
    found = no_sql_violations(root)
    assert len(found) == 2 and all(f"{package}/bad.py" in hit for hit in found)


def test_planted_sql_in_an_adapter_fails(tmp_path: Path) -> None:
    root = tmp_path / "stoker"
    (root / "compat").mkdir(parents=True)
    (root / "compat" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sqlalchemy\n"
        "def f(services):\n    import sqlalchemy as sa\n    with services.db.write() as conn:\n"
        "        conn.execute(sa.text('DELETE FROM runs'))\n")
    found = no_sql_violations(root)
    assert len(found) == 2 and "imports sqlalchemy" in found[0] and "db.write()" in found[1]


@pytest.mark.parametrize("source", [
    "from stoker.worker.loop import Worker\n",                      # at the top
    "def f():\n    from stoker.worker import loop\n",               # lazy, inside a function
    "import stoker.worker.loop\n",                                   # plain import
    "from ..worker import loop\n",                                   # relative
])
def test_a_planted_upward_import_fails(tmp_path: Path, source: str) -> None:
    root = tmp_path / "stoker"
    (root / "executors").mkdir(parents=True)
    (root / "worker").mkdir()
    for package in (root, root / "executors", root / "worker"):
        (package / "__init__.py").write_text("")
    (root / "worker" / "loop.py").write_text("")
    (root / "executors" / "bad.py").write_text(source)
    found = violations(root, {})
    assert len(found) == 1 and "stoker.executors.bad -> stoker.worker" in found[0]


def test_an_unknown_package_must_get_a_row(tmp_path: Path) -> None:
    root = tmp_path / "stoker"
    (root / "newthing").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "newthing" / "__init__.py").write_text("")
    assert "has no row in RULES" in violations(root, {})[0]


def test_allowed_imports_pass(tmp_path: Path) -> None:
    root = tmp_path / "stoker"
    (root / "executors").mkdir(parents=True)
    (root / "executors" / "ok.py").write_text(
        "from stoker.core.states import Outcome\nfrom stoker.catalog import Catalog\nfrom . import ok\n")
    assert violations(root, {}) == []


def test_an_adapter_uses_the_cluster_service_never_its_router(tmp_path: Path) -> None:
    root = tmp_path / "stoker"
    (root / "compat").mkdir(parents=True)
    (root / "compat" / "ok.py").write_text(
        "from stoker.clusters.service import ClusterService\nfrom stoker.clusters.views import full_view\n")
    (root / "compat" / "bad.py").write_text("from stoker.api.clusters import router\n")
    [found] = violations(root, {})
    assert "stoker.compat.bad -> stoker.api.clusters" in found
