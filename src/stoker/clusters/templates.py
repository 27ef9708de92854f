"""Product templates: Jinja2 text (JSON or YAML once rendered) rendered in Jinja2's sandbox.

The sandbox keeps a template from reaching Python internals; StrictUndefined makes a misspelt
variable an error instead of an empty string. The variables are the original PaaS's: `opts` (flat
option names: `opts['slaves.number']`), `user`, `product`, `version`, `clusterid`, `clusterdn`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from stoker.clusters.spec import ClusterSpec, validate_spec
from stoker.core.errors import InvalidInput

FORMATS = ("json", "yaml")
MAX_TEMPLATE_BYTES = 256 * 1024
MAX_RENDERED_CHARS = 1024 * 1024  # a loop over a huge option stops here, not after minutes of work


def format_of(content_type: str | None) -> str:
    """`yaml` for a YAML content type, else `json` (the original's only format)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return "yaml" if kind.endswith(("yaml", "yml")) else "json"


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def check_syntax(text: str) -> None:
    if len(text.encode()) > MAX_TEMPLATE_BYTES:
        raise InvalidInput(f"the template is larger than {MAX_TEMPLATE_BYTES // 1024} KiB")
    if not text.strip():
        raise InvalidInput("the template is empty: send the Jinja2 JSON (or YAML) text as the body")
    try:
        _environment().parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"template syntax error at line {exc.lineno}: {exc.message}",
                           line=exc.lineno) from None


def options_used(text: str) -> set[str] | None:
    """The option names a template reads (`opts['a.b']`, `opts.size`), or None when it reads
    `opts` in a way that names none (`opts[name]`, a loop over it): then only rendering can tell."""
    from jinja2 import nodes

    used: set[str] = set()
    named: set[int] = set()
    tree = _environment().parse(text)
    for node in tree.find_all((nodes.Getitem, nodes.Getattr)):
        assert isinstance(node, (nodes.Getitem, nodes.Getattr))
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "opts":
            key: Any = node.attr if isinstance(node, nodes.Getattr) else \
                node.arg.value if isinstance(node.arg, nodes.Const) else None
            if not isinstance(key, str):
                return None
            used.add(key)
            named.add(id(target))
    if any(n.name == "opts" and id(n) not in named for n in tree.find_all(nodes.Name)):
        return None
    return used


def variables(opts: dict[str, Any], *, user: str, product: str, version: str, cluster_id: str,
              number: int) -> dict[str, Any]:
    return {"opts": dict(opts), "user": user, "product": product, "version": version,
            "clusterid": cluster_id, "clusterdn": f"{product}-{version}-{number}.{user}".replace(" ", "-")}


def render(text: str, fmt: str, context: dict[str, Any]) -> ClusterSpec:
    """Render and validate, or InvalidInput with the template line or the spec field."""
    check_syntax(text)
    try:
        rendered = _bounded(_environment().from_string(text).generate(**context))
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        raise InvalidInput(f"the template does not render{where}: {exc}", line=line) from None
    except Exception as exc:  # a template's own arithmetic (e.g. a division by zero), never a 5xx
        raise InvalidInput(f"the template does not render: {type(exc).__name__}: {exc}") from None
    return validate_spec(_parse(rendered, fmt))


def _bounded(chunks: Iterator[str]) -> str:
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise InvalidInput(f"the rendered template is larger than {MAX_RENDERED_CHARS // 1024} KiB "
                               "(is an option, e.g. the node count, far too large?)")
        parts.append(chunk)
    return "".join(parts)


def _parse(rendered: str, fmt: str) -> Any:
    if fmt == "yaml":
        try:
            return yaml.safe_load(rendered)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            raise InvalidInput(f"the rendered template is not valid YAML{line}: {exc}") from None
    try:
        return json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the rendered template is not valid JSON at line {exc.lineno}, column "
                           f"{exc.colno}: {exc.msg}", line=exc.lineno) from None
