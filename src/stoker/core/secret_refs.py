"""Named secrets as jobs and runs use them: their kinds and values, the references that name them,
their resolution when an attempt starts, and the redaction of their values. Pure: no I/O.

A reference names a secret, never holds its value, so it may be stored with a job or a run and
shown back:
- `options.s3: {"secret": "warehouse"}`: a pipeline's S3 credentials are the `s3` secret's fields;
- `options.secret_env: {"secret": "app-env"}`: every key of an `env` secret becomes a variable of
  the container; or per variable: `{"DB_PASSWORD": {"secret": "db", "key": "password"}}`;
- `{{secrets/<name>/<key>}}` inside a pipeline step's string (Databricks' spelling): replaced by the
  worker when the attempt starts, never in the run's stored steps.
Resolution happens only on the worker that runs the attempt (`resolve`); the values it uses are
redacted (`Redactor`) from what the attempt leaves behind: its log, error and result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stoker.core.errors import InvalidInput

REDACTION = "[REDACTED]"
MIN_REDACTED_LENGTH = 4  # shorter values ("1", "eu") would blot out ordinary text
SECRET_KINDS = ("s3", "env", "generic")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
GENERIC_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
S3_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region", "endpoint_url")
S3_CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")  # redacted; region is not
MAX_KEYS = 100
MAX_VALUE_CHARS = 64 * 1024
STEP_REF = re.compile(r"\{\{\s*secrets/([A-Za-z0-9][A-Za-z0-9._-]{0,99})/([A-Za-z0-9_][A-Za-z0-9_.-]{0,199})\s*\}\}")


class SecretUnavailable(Exception):
    """A secret an attempt needs is gone (deleted after submit) or cannot be opened: the attempt
    fails at once, and no retry can fix it."""

    permanent = True


@dataclass(frozen=True)
class Named:
    """A named secret, opened: its kind and its values."""

    kind: str
    values: Mapping[str, str]

    def redactable(self) -> list[str]:
        if self.kind == "s3":
            return [v for k, v in self.values.items() if k in S3_CREDENTIALS]
        return list(self.values.values())


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInput(f"secret name {name!r}: 1–100 letters, digits, '.', '_' or '-', starting with a "
                           "letter or digit")
    return name


def check_values(kind: str, values: Any) -> dict[str, str]:
    """A secret's values as given: checked for its kind, or a 422 saying what is wrong."""
    if kind not in SECRET_KINDS:
        raise InvalidInput(f"secret kind {kind!r} is not one of {', '.join(SECRET_KINDS)}")
    if not isinstance(values, dict) or not values:
        raise InvalidInput("`values` must be an object of at least one key and its string value")
    if len(values) > MAX_KEYS:
        raise InvalidInput(f"a secret holds at most {MAX_KEYS} keys")
    pattern = ENV_KEY if kind == "env" else GENERIC_KEY
    for key, value in values.items():
        if kind == "s3" and key not in S3_FIELDS:
            raise InvalidInput(f"an s3 secret takes {', '.join(S3_FIELDS)}; not {key!r}")
        if not pattern.match(key):
            raise InvalidInput(f"key {key!r}: " + ("an environment variable name (letters, digits, '_', not "
                                                   "starting with a digit)" if kind == "env" else
                                                   "letters, digits, '_', '.' or '-'"))
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"the value of {key!r} must be a non-empty string")
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidInput(f"the value of {key!r} is longer than {MAX_VALUE_CHARS} characters")
        if "\x00" in value:
            raise InvalidInput(f"the value of {key!r} holds a NUL character")
    if kind == "s3" and not {"aws_access_key_id", "aws_secret_access_key"} <= set(values):
        raise InvalidInput("an s3 secret needs aws_access_key_id and aws_secret_access_key")
    return {str(k): str(v) for k, v in values.items()}


# -- references -------------------------------------------------------------------------------
def is_whole_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secret"} and isinstance(value["secret"], str)


def is_key_ref(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"secret", "key"}
            and isinstance(value["secret"], str) and isinstance(value["key"], str))


def is_reference_section(value: Any) -> bool:
    """An `s3` or `secret_env` option that names secrets and holds no value."""
    if is_whole_ref(value):
        return True
    return isinstance(value, dict) and bool(value) and all(is_key_ref(v) for v in value.values())


@dataclass(frozen=True)
class Ref:
    secret: str
    key: str | None  # None: the whole secret
    where: str  # for messages: "options.s3", "options.secret_env.DB_PASSWORD", "step 2"
    kind: str | None = None  # the kind it must be, when the place demands one


def references(options: Mapping[str, Any] | None, steps: Any = None) -> list[Ref]:
    """Every secret named by run (or job) options and pipeline steps."""
    refs: list[Ref] = []
    options = options or {}
    s3: Any = options.get("s3")
    if is_whole_ref(s3):
        refs.append(Ref(s3["secret"], None, "options.s3", "s3"))
    env: Any = options.get("secret_env")
    if is_whole_ref(env):
        refs.append(Ref(env["secret"], None, "options.secret_env", "env"))
    elif isinstance(env, dict):
        refs.extend(Ref(v["secret"], v["key"], f"options.secret_env.{k}") for k, v in env.items() if is_key_ref(v))
    if steps is not None:
        for number, step in enumerate(steps if isinstance(steps, list) else [steps], 1):
            for text in _strings(step):
                refs.extend(Ref(m.group(1), m.group(2), f"step {number}") for m in STEP_REF.finditer(text))
    return refs


def names_in(*sources: tuple[Mapping[str, Any] | None, Any]) -> set[str]:
    return {ref.secret for options, steps in sources for ref in references(options, steps)}


def check_option_refs(options: Mapping[str, Any], where: str = "options") -> None:
    """A reference section must be well-formed; a job's options may hold references only."""
    for section in ("s3", "secret_env"):
        value = options.get(section)
        if value is None:
            continue
        if section == "s3" and isinstance(value, dict) and "secret" in value and not is_whole_ref(value):
            raise InvalidInput(f"{where}.s3 names a secret as {{\"secret\": \"<name>\"}} and nothing else")
        if section == "secret_env" and isinstance(value, dict) and not is_whole_ref(value):
            refs = [k for k, v in value.items() if isinstance(v, dict)]
            if refs and len(refs) != len(value):
                raise InvalidInput(f"{where}.secret_env: give either values or references to secrets "
                                   "({\"VAR\": {\"secret\": \"<name>\", \"key\": \"<key>\"}}), not both")
            for var, v in value.items():
                if isinstance(v, dict) and not is_key_ref(v):
                    raise InvalidInput(f"{where}.secret_env.{var}: a reference is "
                                       "{\"secret\": \"<name>\", \"key\": \"<key>\"}")


def check_refs(refs: Iterable[Ref], known: Mapping[str, tuple[str, Iterable[str]]]) -> None:
    """Every reference names a secret that exists, of the kind its place needs, with the key it
    names: else a 422 naming the place and the secret. `known`: name -> (kind, keys)."""
    for ref in refs:
        found = known.get(ref.secret)
        if found is None:
            raise InvalidInput(f"{ref.where} names secret {ref.secret!r}, which does not exist "
                               "(see GET /api/v1/secrets)", problems=[{"where": ref.where, "secret": ref.secret,
                                                                        "message": "no such secret"}])
        kind, keys = found
        if ref.kind is not None and kind != ref.kind:
            raise InvalidInput(f"{ref.where} needs an {ref.kind} secret; {ref.secret!r} is a {kind} secret")
        if ref.key is not None and ref.key not in set(keys):
            raise InvalidInput(f"{ref.where} names key {ref.key!r} of secret {ref.secret!r}, which has no such "
                               f"key (it has: {', '.join(sorted(keys))})")


# -- resolution, on the worker ----------------------------------------------------------------
@dataclass
class Resolved:
    """What an attempt runs with: its secret option sections with values, its steps with their
    `{{secrets/…}}` filled in, and every value to redact from what it leaves behind."""

    sections: dict[str, Any] = field(default_factory=dict)
    steps: Any = None
    values: list[str] = field(default_factory=list)

    def redactor(self) -> Redactor:
        return Redactor(self.values)


def resolve(options: Mapping[str, Any], inline: Mapping[str, Any], steps: Any,
            named: Mapping[str, Named]) -> Resolved:
    """Fill the references of an attempt's options and steps from `named` (the secrets it names,
    opened), besides its own sealed `inline` sections. Raises SecretUnavailable when one is gone."""

    def get(ref: Ref) -> Named:
        found = named.get(ref.secret)
        if found is None:
            raise SecretUnavailable(f"secret {ref.secret!r} ({ref.where}) no longer exists")
        if ref.key is not None and ref.key not in found.values:
            raise SecretUnavailable(f"secret {ref.secret!r} has no key {ref.key!r} any more ({ref.where})")
        return found

    out = Resolved(sections=dict(inline), steps=steps)
    for section, value in inline.items():  # a run's own values, given with it
        if isinstance(value, dict):
            out.values.extend(str(v) for k, v in value.items()
                              if isinstance(v, str | int | float) and (section != "s3" or k in S3_CREDENTIALS))
    used: set[str] = set()
    s3: Any = options.get("s3")
    if is_whole_ref(s3):
        out.sections["s3"] = dict(get(Ref(s3["secret"], None, "options.s3")).values)
        used.add(s3["secret"])
    env: Any = options.get("secret_env")
    if is_whole_ref(env):
        out.sections["secret_env"] = dict(get(Ref(env["secret"], None, "options.secret_env")).values)
        used.add(env["secret"])
    elif is_reference_section(env):
        out.sections["secret_env"] = {var: get(Ref(v["secret"], v["key"], f"options.secret_env.{var}")).values[v["key"]]
                                      for var, v in env.items()}
        used.update(v["secret"] for v in env.values())
    if steps is not None and any(STEP_REF.search(text) for text in _strings(steps)):
        def fill(match: re.Match[str]) -> str:
            ref = Ref(match.group(1), match.group(2), "a step")
            used.add(ref.secret)
            return get(ref).values[match.group(2)]

        out.steps = _map_strings(steps, lambda text: STEP_REF.sub(fill, text))
    for name in sorted(used):
        out.values.extend(named[name].redactable())
    return out


# -- redaction --------------------------------------------------------------------------------
class Redactor:
    """Replaces every occurrence of the given values (of MIN_REDACTED_LENGTH characters or more)
    with [REDACTED], in text, bytes and JSON-like values. Longer values first, so a value that
    contains another is hidden whole."""

    def __init__(self, values: Iterable[str]) -> None:
        kept = sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_REDACTED_LENGTH},
                      key=len, reverse=True)
        self._text = re.compile("|".join(re.escape(v) for v in kept)) if kept else None
        # In bytes (a Spark event, JSON inside a JSON string) a value may also appear escaped once or twice.
        forms = sorted({f for v in kept for f in (v, _escaped(v), _escaped(_escaped(v)))}, key=len, reverse=True)
        self._bytes = re.compile(b"|".join(re.escape(f.encode()) for f in forms)) if forms else None

    def __bool__(self) -> bool:
        return self._text is not None

    def text(self, value: str) -> str:
        return self._text.sub(REDACTION, value) if self._text is not None and value else value

    def redact_bytes(self, value: bytes) -> bytes:
        return self._bytes.sub(REDACTION.encode(), value) if self._bytes is not None and value else value

    def found_in(self, value: bytes) -> bool:
        return self._bytes is not None and self._bytes.search(value) is not None

    def any(self, value: Any) -> Any:
        """A JSON-like value with every string redacted (keys included)."""
        if self._text is None:
            return value
        return _map_strings(value, self.text, keys=True)


def _escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _map_strings(value: Any, fn: Any, *, keys: bool = False) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn, keys=keys) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, fn, keys=keys) for v in value)
    if isinstance(value, dict):
        return {(fn(k) if keys and isinstance(k, str) else k): _map_strings(v, fn, keys=keys) for k, v in value.items()}
    return value


def job_references(spec: Mapping[str, Any] | None, options: Mapping[str, Any] | None,
                   notifications: Mapping[str, Any] | None) -> set[str]:
    """The secrets a job names: in its options, its steps, its notifications' destinations."""
    names = {ref.secret for ref in references(options, (spec or {}).get("steps"))}
    for destination in (notifications or {}).get("destinations") or []:
        if isinstance(destination, dict) and isinstance(destination.get("secret"), str):
            names.add(destination["secret"])
    return names
