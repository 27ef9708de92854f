"""Named secrets: write-only values, envelope-encrypted (core/secrets.py), and the master key ring's
state in the database (which key wraps new data keys, a check value every process opens at start).

Reads (`get`, `list`) give names, kinds, key names and who changed what when: never values. Values
are opened only by `open_many`, for the attempt that needs them (the local worker, or the claim
answer of a remote worker), and by nothing that answers a person.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.attempts import Claimed
from stoker.core.errors import Conflict, NotFound
from stoker.core.secret_refs import (
    Named,
    Redactor,
    Resolved,
    SecretUnavailable,
    check_name,
    check_values,
    job_references,
    references,
    resolve,
)
from stoker.core.secrets import (
    MasterKeyError,
    SecretBox,
    decrypt_values,
    encrypt_values,
    new_data_key,
)
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.db import Database
from stoker.store.tables import jobs, runs, secrets, settings_kv, webhooks

WRAPPING_KEY = "secrets.master_key_id"  # settings_kv: the key id new data keys are wrapped with
CHECK_KEY = "secrets.key_check"  # settings_kv: a value sealed with the ring, opened at every start
CHECK_VALUE = "stoker master key check"


@dataclass(frozen=True)
class SecretRecord:
    name: str
    kind: str
    keys: list[str]
    description: str
    version: int
    master_key_id: str
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str

    @classmethod
    def from_row(cls, row: Any) -> SecretRecord:
        return cls(row.name, row.kind, list(row.key_names), row.description, row.version, row.master_key_id,
                   row.created_at, row.created_by, row.updated_at, row.updated_by)


@dataclass(frozen=True)
class RotationReport:
    master_key_id: str
    rewrapped: int
    resealed_runs: int
    resealed_webhooks: int
    remaining: dict[str, int]  # key id -> secrets still wrapped by it (another rotation raced)


class SecretStore:
    def __init__(self, db: Database, box: SecretBox, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.box = box
        self.clock = clock

    # -- the master key ring --------------------------------------------------------------
    def check_master_key(self) -> None:
        """At start: the ring opens the database's check value and every key id its secrets are
        wrapped with; else MasterKeyError saying which key is missing. A first start seals the check."""
        with self.db.read() as conn:
            sealed = conn.execute(sa.select(settings_kv.c.value).where(settings_kv.c.key == CHECK_KEY)).scalar()
            kids = [r[0] for r in conn.execute(sa.select(secrets.c.master_key_id).distinct())]
        if sealed is None:
            if not kids:
                self._write_check()
                return
        else:
            try:
                opened = self.box.open(sealed)
            except MasterKeyError as exc:
                raise MasterKeyError(
                    "the master key ring (STOKER_SECRET_KEY, or secret.key in the data dir) does not open "
                    "this database's secrets: it is not the key they were sealed with (keys here: "
                    f"{', '.join(self.box.key_ids)}). Restore the key file or variable; a new key cannot "
                    "open what the old one sealed") from exc
            if opened.get("check") != CHECK_VALUE:
                raise MasterKeyError("the database's master key check holds an unexpected value")
        missing = [k for k in kids if not self.box.has(k)]
        if missing:
            raise MasterKeyError(
                f"secrets in this database are wrapped with master key id(s) {', '.join(missing)}, which "
                f"this process's key ring lacks (it has {', '.join(self.box.key_ids)}): add the key to "
                "STOKER_SECRET_KEY (comma-separated) or secret.key (one per line)")

    def _write_check(self) -> None:
        sealed = self.box.seal({"check": CHECK_VALUE})
        with self.db.write() as conn:
            done = conn.execute(settings_kv.update().where(settings_kv.c.key == CHECK_KEY).values(value=sealed))
            if not done.rowcount:
                conn.execute(settings_kv.insert().values(key=CHECK_KEY, value=sealed))

    def wrapping_key(self, conn: Connection) -> str:
        """The key id new data keys are wrapped with: the database's choice (the last rotation's)
        when this process has that key, else its ring's first key."""
        chosen = conn.execute(sa.select(settings_kv.c.value).where(settings_kv.c.key == WRAPPING_KEY)).scalar()
        return chosen if chosen is not None and self.box.has(chosen) else self.box.primary_id

    def current_wrapping_key(self) -> str:
        with self.db.read() as conn:
            return self.wrapping_key(conn)

    def key_usage(self) -> dict[str, int]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(secrets.c.master_key_id, sa.func.count())
                                .group_by(secrets.c.master_key_id)).all()
        return {str(r[0]): int(r[1]) for r in rows}

    def rotate(self, to_kid: str | None = None, *, batch: int = 200) -> RotationReport:
        """Re-wrap every data key with master key `to_kid` (default: the ring's first key), one
        secret per statement, compare-and-set on its old wrapping, so a concurrent update or
        rotation is never overwritten; then reseal run and webhook secrets with the first key and
        the check value. Every process keeps answering meanwhile: each key stays accepted until
        the operator removes it from the rings, after this reports nothing left under it."""
        kid = to_kid or self.box.primary_id
        if not self.box.has(kid):
            raise MasterKeyError(f"master key {kid} is not in this process's key ring ({', '.join(self.box.key_ids)})")
        with self.db.write() as conn:  # from now on every replica that has it wraps new keys with it
            done = conn.execute(settings_kv.update().where(settings_kv.c.key == WRAPPING_KEY).values(value=kid))
            if not done.rowcount:
                conn.execute(settings_kv.insert().values(key=WRAPPING_KEY, value=kid))
        rewrapped = 0
        while True:
            with self.db.read() as conn:
                rows = conn.execute(sa.select(secrets.c.name, secrets.c.wrapped_key, secrets.c.master_key_id)
                                    .where(secrets.c.master_key_id != kid).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                data_key = self.box.unwrap(row.master_key_id, row.wrapped_key)
                _, wrapped = self.box.wrap(data_key, kid)
                with self.db.write() as conn:
                    rewrapped += conn.execute(
                        secrets.update().where(secrets.c.name == row.name,
                                               secrets.c.wrapped_key == row.wrapped_key)
                        .values(wrapped_key=wrapped, master_key_id=kid)).rowcount
        resealed_runs = self._reseal(runs, runs.c.id, runs.c.secrets, batch)
        resealed_webhooks = self._reseal(webhooks, webhooks.c.id, webhooks.c.secret, batch)
        self._write_check()
        remaining = {k: n for k, n in self.key_usage().items() if k != kid}
        return RotationReport(kid, rewrapped, resealed_runs, resealed_webhooks, remaining)

    def _reseal(self, table: sa.Table, key: sa.Column[Any], column: sa.Column[Any], batch: int) -> int:
        """Seal every value of `column` with the ring's first key (Fernet tokens carry no key id:
        MultiFernet.rotate opens with any key and seals with the first)."""
        count, after = 0, ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(sa.select(key, column).where(column.is_not(None), key > after)
                                    .order_by(key).limit(batch)).all()
            if not rows:
                return count
            with self.db.write() as conn:
                for row_key, sealed in rows:
                    conn.execute(table.update().where(key == row_key, column == sealed)
                                 .values({column.name: self.box.reseal(sealed)}))
                    count += 1
            after = rows[-1][0]

    # -- secrets --------------------------------------------------------------------------
    # -- secrets: each a team's (names are unique in a team; another team's is not found) ---------
    def create(self, name: str, kind: str, values: dict[str, Any], *, description: str = "",
               by: str, team: str = DEFAULT_TEAM) -> SecretRecord:
        check_name(name)
        checked = check_values(kind, values)
        now = self.clock()
        with self.db.write() as conn:
            if conn.execute(sa.select(secrets.c.name).where(secrets.c.name == name,
                                                            secrets.c.team_id == team)).first() is not None:
                raise Conflict(f"a secret named {name!r} exists; change it with PUT /api/v1/secrets/{name}",
                               secret=name)
            kid, wrapped, ciphertext = self._encrypt(conn, checked)
            try:
                conn.execute(secrets.insert().values(
                    name=name, kind=kind, key_names=sorted(checked), description=description, ciphertext=ciphertext,
                    wrapped_key=wrapped, master_key_id=kid, version=1, created_at=now, created_by=by,
                    updated_at=now, updated_by=by, team_id=team))
            except sa.exc.IntegrityError as exc:
                raise Conflict(f"a secret named {name!r} exists", secret=name) from exc
        return self.get(name, team=team)

    def update(self, name: str, *, values: dict[str, Any] | None = None, description: str | None = None,
               by: str, team: str = DEFAULT_TEAM) -> SecretRecord:
        """New values replace the old ones whole (a new data key each time); the kind stays."""
        now = self.clock()
        with self.db.write() as conn:
            row = self._row(conn, name, team)
            changes: dict[str, Any] = {"updated_at": now, "updated_by": by}
            if values is not None:
                checked = check_values(row.kind, values)
                kid, wrapped, ciphertext = self._encrypt(conn, checked)
                changes.update(key_names=sorted(checked), ciphertext=ciphertext, wrapped_key=wrapped,
                               master_key_id=kid, version=row.version + 1)
            if description is not None:
                changes["description"] = description
            conn.execute(secrets.update().where(secrets.c.name == name, secrets.c.team_id == team).values(**changes))
        return self.get(name, team=team)

    def delete(self, name: str, *, team: str = DEFAULT_TEAM) -> None:
        """Refused (409) while a job of the team names it: its next run would fail."""
        used_by = self.users(team=team).get(name)
        if used_by:
            raise Conflict(f"secret {name!r} is used by job(s) {', '.join(used_by)}: change them first",
                           used_by=used_by)
        with self.db.write() as conn:
            if not conn.execute(secrets.delete().where(secrets.c.name == name, secrets.c.team_id == team)).rowcount:
                raise NotFound(f"no secret named {name!r}")

    def get(self, name: str, *, team: str = DEFAULT_TEAM) -> SecretRecord:
        with self.db.read() as conn:
            return SecretRecord.from_row(self._row(conn, name, team))

    def list(self, *, team: str = DEFAULT_TEAM) -> builtins.list[SecretRecord]:
        with self.db.read() as conn:
            return [SecretRecord.from_row(r) for r in conn.execute(
                sa.select(*[c for c in secrets.c if c.name not in ("ciphertext", "wrapped_key")])
                .where(secrets.c.team_id == team).order_by(secrets.c.name))]

    def kinds(self, names: Iterable[str], *, team: str = DEFAULT_TEAM) -> dict[str, tuple[str, builtins.list[str]]]:
        """name -> (kind, key names) of those of `names` that exist in `team`: what a submit checks."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(sa.select(secrets.c.name, secrets.c.kind, secrets.c.key_names)
                                .where(secrets.c.name.in_(wanted), secrets.c.team_id == team)).all()
        return {r.name: (r.kind, list(r.key_names)) for r in rows}

    def open_many(self, names: Iterable[str], *, team: str = DEFAULT_TEAM) -> dict[str, Named]:
        """The named secrets of `team`, opened, for the attempt that uses them (missing ones are
        left out: a run never opens another team's secret)."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(sa.select(secrets.c.name, secrets.c.kind, secrets.c.ciphertext,
                                          secrets.c.wrapped_key, secrets.c.master_key_id)
                                .where(secrets.c.name.in_(wanted), secrets.c.team_id == team)).all()
        return {r.name: Named(r.kind, decrypt_values(self.box.unwrap(r.master_key_id, r.wrapped_key), r.ciphertext))
                for r in rows}

    def resolve(self, claimed: Claimed) -> Resolved:
        """What an attempt runs with, resolved as it starts: its own sealed options opened, the
        secrets it names opened and filled in. Nothing is read when it names none and has none."""
        try:
            inline = self.box.open(claimed.secrets) if claimed.secrets else {}
            names = {ref.secret for ref in references(claimed.options, claimed.steps)}
            named = self.open_many(names, team=claimed.team) if names else {}
        except MasterKeyError as exc:
            raise SecretUnavailable(f"the run's secrets cannot be opened: {exc}") from exc
        return resolve(claimed.options, inline, claimed.steps, named)

    def users(self, *, team: str = DEFAULT_TEAM) -> dict[str, builtins.list[str]]:
        """secret name -> the names of the team's jobs that name it (options, steps, notifications)."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(jobs.c.name, jobs.c.spec, jobs.c.options, jobs.c.notifications)
                                .where(jobs.c.team_id == team).order_by(jobs.c.name)).all()
        out: dict[str, builtins.list[str]] = {}
        for row in rows:
            for name in job_references(row.spec, row.options, row.notifications):
                out.setdefault(name, []).append(row.name)
        return out

    def redactable_values(self) -> builtins.list[str]:
        """The values of every secret that are redacted where they show up (s3: its credentials)."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(secrets.c.kind, secrets.c.ciphertext, secrets.c.wrapped_key,
                                          secrets.c.master_key_id)).all()
        out: builtins.list[str] = []
        for r in rows:
            out.extend(Named(r.kind, decrypt_values(self.box.unwrap(r.master_key_id, r.wrapped_key),
                                                    r.ciphertext)).redactable())
        return out

    def generation(self) -> tuple[int, float]:
        """Changes when any secret is made, changed or deleted: (count, newest update)."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(sa.func.count(), sa.func.max(secrets.c.updated_at))).one()
        return int(row[0]), float(row[1] or 0.0)

    def _encrypt(self, conn: Connection, values: dict[str, str]) -> tuple[str, str, str]:
        data_key = new_data_key()
        kid, wrapped = self.box.wrap(data_key, self.wrapping_key(conn))
        return kid, wrapped, encrypt_values(data_key, values)

    @staticmethod
    def _row(conn: Connection, name: str, team: str) -> Any:
        row = conn.execute(sa.select(secrets).where(secrets.c.name == name, secrets.c.team_id == team)).first()
        if row is None:
            raise NotFound(f"no secret named {name!r}")
        return row


class RedactionCache:
    """A Redactor of every secret's current values, for the Spark events an API process collects:
    rebuilt when a secret changes (checked at most every `seconds`), so ingest pays one regex
    search per payload and nothing while no secret exists."""

    def __init__(self, store: SecretStore, seconds: float = 2.0) -> None:
        self.store = store
        self.seconds = seconds
        self._checked = -1e18
        self._generation: tuple[int, float] | None = None
        self._redactor = Redactor(())
        self._lock = threading.Lock()

    def __call__(self) -> Redactor:
        now = time.monotonic()
        if now - self._checked < self.seconds:
            return self._redactor
        with self._lock:
            if now - self._checked >= self.seconds:
                generation = self.store.generation()
                if generation != self._generation:
                    self._redactor = Redactor(self.store.redactable_values() if generation[0] else ())
                    self._generation = generation
                self._checked = now
        return self._redactor
