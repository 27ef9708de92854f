"""Products: a template, options and an orchestrator under a name and version.

Writes are checked before they are stored: a template that does not parse, or (when the options'
defaults are complete) does not render into a valid spec, is refused with the line or field.
"""

from __future__ import annotations

from typing import Any

from stoker.clusters import builtin, orchestrator, templates
from stoker.clusters.options import ProductOptions
from stoker.clusters.spec import ClusterSpec
from stoker.core.errors import InvalidInput
from stoker.store.clusters import ProductStore
from stoker.store.records.clusters import Product

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
EMPTY_OPTIONS: dict[str, Any] = {"required": {}, "optional": {}, "advanced": {}, "descriptions": {}}
EXTERNAL = "external"
EXTERNAL_VERSION = "1"


def _check_name(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 100 or not set(value) <= NAME_CHARS:
        raise InvalidInput(f"{what} must be 1-100 characters of letters, digits, '.', '_' or '-'; got {value!r}",
                           field=what)
    return value


class Products:
    def __init__(self, store: ProductStore) -> None:
        self.store = store

    def ensure_builtins(self) -> None:
        self.store.ensure(builtin.SPARK_STANDALONE, builtin.SPARK_STANDALONE_VERSION,
                          description=builtin.DESCRIPTION, options=builtin.OPTIONS,
                          template=builtin.TEMPLATE, orchestrator="local", builtin=True)
        self.store.ensure(EXTERNAL, EXTERNAL_VERSION,
                          description="A Spark cluster Stoker does not manage: give its master URL as `master`",
                          options={"required": {"master": None}, "optional": {"web_url": ""}, "advanced": {},
                                   "descriptions": {"master": "spark://host:port, yarn or k8s://…",
                                                    "web_url": "its web UI, for links"}},
                          template='{"nodes": {}, "services": {}}', orchestrator="external", builtin=True)

    def create(self, body: Any) -> Product:
        if not isinstance(body, dict):
            raise InvalidInput('the body must be {"name": ..., "version": ..., "description": ...}')
        unknown = sorted(set(body) - {"name", "version", "description", "logo_url"})
        if unknown:
            raise InvalidInput(f"unknown field(s) {unknown}; a product has name, version, description, logo_url")
        name = _check_name("name", body.get("name"))
        version = _check_name("version", str(body["version"]) if isinstance(body.get("version"), (int, float))
                              else body.get("version"))
        description, logo = body.get("description", ""), body.get("logo_url")
        if not isinstance(description, str) or (logo is not None and not isinstance(logo, str)):
            raise InvalidInput("description and logo_url must be strings")
        return self.store.create(name, version, description=description, logo_url=logo, options=EMPTY_OPTIONS)

    def get(self, name: str, version: str) -> Product:
        return self.store.get(name, version)

    def put_template(self, name: str, version: str, text: str, content_type: str | None) -> str | None:
        """Store a checked template; the answer says what is left to check at launch (or None)."""
        product = self.store.get(name, version)
        fmt = templates.format_of(content_type)
        note = self.check_template(product, text, fmt, ProductOptions.model_validate(product.options))
        self.store.update(name, version, template=text, template_format=fmt)
        return note

    def put_options(self, name: str, version: str, body: Any) -> str | None:
        product = self.store.get(name, version)
        options = ProductOptions.parse(body)
        note = None
        if product.template:
            note = self.check_template(product, product.template, product.template_format, options)
        self.store.update(name, version, options=options.model_dump())
        return note

    def put_orchestrator(self, name: str, version: str, body: Any) -> None:
        self.store.get(name, version)
        known = sorted(orchestrator.installed())
        if not isinstance(body, dict) or set(body) != {"name"} or not isinstance(body["name"], str):
            raise InvalidInput(
                "Stoker never runs code sent by clients: choose one of the orchestrators installed on the "
                f'server by name, e.g. {{"name": "local"}}; installed: {known}', installed=known)
        if body["name"] not in known:
            raise InvalidInput(f"no orchestrator named {body['name']!r} is installed; installed: {known}",
                               installed=known)
        self.store.update(name, version, orchestrator=body["name"])

    @staticmethod
    def check_template(product: Product, text: str, fmt: str, options: ProductOptions) -> str | None:
        """Parse always; render and validate too when the options' defaults give every option the
        template reads. Template and options may be put in either order: what cannot be checked
        yet is checked at launch, and the answer (a note) says so."""
        templates.check_syntax(text)
        used = templates.options_used(text)
        given = {n for n, v in options.defaults().items() if v is not None}
        if used is None:
            if not options.complete():
                return ("the template was checked for syntax only: it reads options by computed names "
                        "and the options give no complete set of defaults; it is rendered at launch")
        elif used - given:
            return (f"the template was checked for syntax only: the product's options give no default "
                    f"for {sorted(used - given)}; it is rendered with the launch's options")
        opts = options.merge({}) if used is None else options.defaults()  # what it reads has a value
        render_spec(product, text, fmt, opts, user="check", cluster_id="check", number=0)
        return None


def render_spec(product: Product, text: str, fmt: str, opts: dict[str, Any], *, user: str,
                cluster_id: str, number: int) -> ClusterSpec:
    context = templates.variables(opts, user=user, product=product.name, version=product.version,
                                  cluster_id=cluster_id, number=number)
    return templates.render(text, fmt, context)


def default_orchestrator(chosen: str | None, spec: ClusterSpec) -> str:
    """The product's choice (`chosen`), else `containers` when its nodes name a docker_image, else
    `local`."""
    if chosen:
        return chosen
    return "containers" if any(n.docker_image for n in spec.nodes.values()) else "local"
