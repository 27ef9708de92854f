"""Cluster templates, options and specs: pure rendering and validation (no processes)."""

from __future__ import annotations

import pytest

from stoker.clusters import builtin, templates
from stoker.clusters.options import ProductOptions
from stoker.clusters.products import default_orchestrator
from stoker.clusters.spec import validate_spec
from stoker.config import Capacity
from stoker.core.errors import InvalidInput

# The original PaaS's own minimal example: a `size` option, nodes example0…, one service.
MINIMAL_TEMPLATE = """{
  "nodes": {
  {%- for n in range(opts['size']) %}
    "example{{ n }}": {"docker_image": "docker-registry.cesga.es:5000/example:0.1.0", "cpu": 1, "mem": 1024,
                      "disks": 1, "networks": {"eth0": {"type": "dynamic", "networks": "admin"}}}
    {%- if not loop.last %},{% endif %}
  {%- endfor %}
  },
  "services": {"example": {"nodes": [
    {%- for n in range(opts['size']) %}"example{{ n }}"{% if not loop.last %},{% endif %}{% endfor -%}
  ]}}
}"""
MINIMAL_OPTIONS = {"required": {}, "optional": {"size": 2}, "advanced": {},
                   "descriptions": {"size": "number of worker nodes"}}


def context(opts):
    return templates.variables(opts, user="alice", product="example", version="0.1.0", cluster_id="c1", number=1)


def test_the_originals_minimal_template_renders_and_validates():
    options = ProductOptions.parse(MINIMAL_OPTIONS)
    spec = templates.render(MINIMAL_TEMPLATE, "json", context(options.merge({"size": 3})))
    assert sorted(spec.nodes) == ["example0", "example1", "example2"]
    assert spec.services["example"].nodes == ["example0", "example1", "example2"]
    assert spec.nodes["example0"].docker_image.endswith("example:0.1.0")
    assert spec.needs() == (3, 3072)
    assert default_orchestrator(None, spec) == "containers"
    assert default_orchestrator("local", spec) == "local"  # a choice is kept


def test_the_containers_orchestrator_checks_images_commands_and_env_before_anything_runs(tmp_path):
    from stoker.clusters.orchestrator import Context
    from stoker.clusters.orchestrators.containers import ContainersOrchestrator
    from stoker.clusters.spec import validate_spec
    from stoker.containers.runtime import ContainerRuntime
    from stoker.core.errors import InvalidInput, Unavailable

    orch = ContainersOrchestrator(Context(tmp_path, containers=ContainerRuntime(None)))
    image = "localhost/stoker/busybox:latest"
    cases = {"name none": {"a": {"cpu": 1, "mem": 64}},
             "`command` must be": {"a": {"cpu": 1, "mem": 64, "docker_image": image, "command": [1]}},
             "`env` must be": {"a": {"cpu": 1, "mem": 64, "docker_image": image, "env": ["X=1"]}}}
    for words, nodes in cases.items():
        with pytest.raises(InvalidInput, match=words):
            orch.check(validate_spec({"nodes": nodes}), {})
    good = validate_spec({"nodes": {"a": {"cpu": 1, "mem": 64, "docker_image": image, "command": "sleep 9"}}})
    with pytest.raises(Unavailable, match="needs a container runtime"):  # the spec is fine; no runtime here
        orch.check(good, {})


def test_the_builtin_spark_standalone_product_renders_a_master_and_size_workers():
    options = ProductOptions.parse(builtin.OPTIONS)
    spec = templates.render(builtin.TEMPLATE, "json", context(options.merge({"size": 3})))
    assert [spec.role_of(n) for n in sorted(spec.nodes)] == ["master", "worker", "worker", "worker"]
    assert spec.needs() == (4, 256 + 3 * 512)
    assert default_orchestrator(None, spec) == "local"


def test_yaml_templates_render_too():
    text = "nodes:\n{% for i in range(opts['n']) %}  w{{ i }}: {cpu: 1, mem: 128}\n{% endfor %}"
    spec = templates.render(text, templates.format_of("application/yaml"), context({"n": 2}))
    assert sorted(spec.nodes) == ["w0", "w1"]


@pytest.mark.parametrize("text, fragment", [
    ('{"nodes": {{% for x in %}}}', "syntax error at line 1"),
    ('{"nodes": {"a": {"cpu": {{ opts["nope"] }}, "mem": 128}}}', "does not render"),
    ('{"nodes": {"a": {"cpu": 1, "mem": 128}},,}', "not valid JSON at line 1"),
    ('{"nodes": {"a": {"cpu": 0, "mem": 128}}}', "nodes.a.cpu"),
    ('{"nodes": {"a": {"cpu": 1, "mem": 128}}, "services": {"s": {"nodes": ["b"]}}}', "['b']"),
    ("{{ ''.__class__.__mro__ }}", "does not render"),  # the sandbox refuses Python internals
])
def test_bad_templates_are_refused_with_the_line_or_field(text, fragment):
    with pytest.raises(InvalidInput) as err:
        templates.render(text, "json", context({}))
    assert fragment in err.value.message


def test_options_merge_defaults_and_name_what_is_wrong():
    options = ProductOptions.parse({"required": {"slaves.number": None}, "optional": {"slaves.mem": 2048},
                                    "advanced": {"datanode.heap": 1024.0}, "descriptions": {}})
    assert options.size_option() == "slaves.number"
    assert options.merge({"size": 4}) == {"slaves.number": 4, "slaves.mem": 2048, "datanode.heap": 1024.0}
    assert options.merge({"slaves.number": 2, "datanode.heap": 512})["datanode.heap"] == 512
    for given, name in [({}, "slaves.number"), ({"size": 2, "colour": "red"}, "colour"),
                        ({"size": 2, "slaves.mem": "big"}, "slaves.mem"), ({"size": True}, "size")]:
        with pytest.raises(InvalidInput) as err:
            options.merge(given)
        assert name in err.value.message
        assert err.value.details["option"] == name


def test_options_sections_are_checked():
    for body, fragment in [([], "must be an object"), ({"extra": {}}, "unknown options section"),
                           ({"required": {"a": 1}, "optional": {"a": 2}}, "both in required and in optional"),
                           ({"descriptions": {"ghost": "?"}}, "undeclared")]:
        with pytest.raises(InvalidInput) as err:
            ProductOptions.parse(body)
        assert fragment in err.value.message


def test_spec_validation_names_the_field():
    with pytest.raises(InvalidInput) as err:
        validate_spec({"nodes": {"a": {"cpu": "many", "mem": 128}}})
    assert "nodes.a.cpu" in err.value.message


def test_capacity_parses_the_setting():
    assert Capacity.parse("cores=3,mem=2048") == Capacity(3, 2048)
    with pytest.raises(InvalidInput):
        Capacity.parse("gpus=2")


def test_a_runs_cluster_decides_its_master_or_why_not():
    from stoker.executors.base import ClusterUnavailable
    from stoker.executors.failures import is_permanent
    from stoker.store.records.clusters import SparkPlacement as At
    from stoker.worker.targets import target_of

    target = target_of("c1", At(status="ready", master_url="spark://h:7077", conf={"spark.executor.cores": "1"}))
    assert (target.master, target.conf, target.cluster_id) == ("spark://h:7077", {"spark.executor.cores": "1"}, "c1")
    assert target_of("c1", At(status="degraded", master_url="spark://h:7077", conf={})).master
    for found, said, permanent in [(None, "does not exist", True),
                                   (At(status="destroyed", master_url=None, conf={}), "destroyed", True),
                                   (At(status="scheduling", master_url=None, conf={}), "not ready", False)]:
        with pytest.raises(ClusterUnavailable, match=said) as err:
            target_of("c1", found)
        assert is_permanent(err.value) is permanent


def test_a_replica_that_took_over_the_duties_writes_a_nodes_configuration_again(tmp_path):
    """The launch planned the nodes on one API replica's disk; a repair on another one (the duties
    moved: api1 died) has none of it and writes the same configuration on its own disk."""
    import shutil
    from types import SimpleNamespace

    from stoker.clusters.orchestrator import Context
    from stoker.clusters.orchestrators.containers import ContainersOrchestrator
    from stoker.containers.runtime import ContainerRuntime

    raw = {"nodes": {"master": {"docker_image": "img", "cpu": 1, "mem": 256, "spark": True}},
           "services": {"spark-master": {"role": "master", "nodes": ["master"],
                                         "conf": {"daemon.memory": "256m", "spark.eventLog.enabled": "false"}}}}
    cluster = SimpleNamespace(id="c1", spec=raw)
    first = ContainersOrchestrator(Context(tmp_path / "api1", containers=ContainerRuntime(None)))
    [node] = first.plan(cluster, validate_spec(raw), {})
    planned = tmp_path / "api1" / "clusters" / "c1" / "master" / "conf"
    assert first._conf_dir(cluster, node) == planned
    second = ContainersOrchestrator(Context(tmp_path / "api2", containers=ContainerRuntime(None)))
    shutil.rmtree(tmp_path / "api1")  # the first replica's disk is gone with it
    again = second._conf_dir(cluster, node)
    assert again == tmp_path / "api2" / "clusters" / "c1" / "master" / "conf"
    assert sorted(p.name for p in again.iterdir()) == ["node.json", "spark-defaults.conf", "stoker-node.json"]
    assert (again / "spark-defaults.conf").read_text() == "spark.eventLog.enabled false\n"


def test_spark_nodes_mount_the_venv_and_its_python_once_each(monkeypatch, tmp_path):
    """The executors' Python workers run the driver's interpreter by its path: Spark node containers
    mount the venv (sys.prefix) and the Python it was made from (sys.base_prefix); a path inside
    another mounted one (pyspark inside the venv, a Python under /usr) is not mounted twice."""
    import sys

    from stoker.clusters.orchestrators import containers

    venv, base = tmp_path / "opt" / "venv", tmp_path / "py" / "3.11"
    pyspark = venv / "lib" / "site-packages" / "pyspark"
    pyspark.mkdir(parents=True)
    base.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(sys, "base_prefix", str(base))
    paths = containers._host_paths(str(pyspark))
    assert str(venv) in paths and str(base) in paths and str(pyspark) not in paths
    assert "/usr" in paths and len(paths) == len(set(paths))
    monkeypatch.setattr(sys, "base_prefix", "/usr")  # Debian's Python: under /usr, already mounted
    assert containers._host_paths(str(pyspark)).count("/usr") == 1
