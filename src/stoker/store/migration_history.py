"""The migration history is one line (docs/migrations.md). Until it was straightened, revisions
branched off 0001_core (six heads), and `upgrade heads` left a database's `alembic_version` table
holding several rows. `straighten` turns such a database's version into a place on the line:

- the revisions it has are those its rows name and their ancestors *in the old branching history*
  (`OLD_PARENTS`, as the revision files said before);
- its version is stamped at the end of the longest start of the line it has;
- then, along the line, a revision it has is stamped (its change is already there), one it lacks
  is run. The line keeps every old dependency (`test_the_line_keeps_every_old_dependency`), so a
  missing revision runs after what it needs, as `upgrade heads` would have run it.

A database whose version table holds one row is on the line already (0001_core, the one place
the old and the new history agree, or any revision written since).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

# The old branching history: each revision and the one it revised.
OLD_PARENTS: dict[str, str | None] = {
    "0001_core": None,
    "0002_events": "0001_core",
    "0003_sinks": "0001_core",
    "0004_sate": "0001_core",
    "0005_clusters": "0001_core",
    "0006_containers": "0001_core",
    "0007_sate_records": "0004_sate",
    "0007_ui_sessions": "0001_core",
    "0008_events_killed_tasks": "0002_events",
    "0009_events_ended_by": "0008_events_killed_tasks",
    "0010_cluster_duties": "0005_clusters",
}


def old_applied(versions: set[str]) -> set[str]:
    """The revisions a database of the old history has: its heads and their ancestors."""
    applied: set[str] = set()
    for version in versions:
        revision: str | None = version
        while revision is not None and revision not in applied:
            if revision not in OLD_PARENTS:
                raise RuntimeError(f"alembic_version names {revision!r}, not a revision of the old "
                                   "branching history: cannot tell what this database has")
            applied.add(revision)
            revision = OLD_PARENTS[revision]
    return applied


def versions_of(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}


def straighten(config: Config, engine: sa.Engine) -> None:
    """Put a database of the old branching history on the line (nothing to do for any other)."""
    versions = versions_of(engine)
    if len(versions) <= 1:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    applied = old_applied(versions)
    line = [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]
    start = 0
    while start < len(line) and line[start] in applied:
        start += 1
    command.stamp(config, line[start - 1], purge=True)  # 0001_core at least: every row descends from it
    end = max(line.index(revision) for revision in applied) + 1
    for revision in line[start:end]:  # what follows is run by the upgrade to head, as for any database
        if revision in applied:
            command.stamp(config, revision)
        else:
            command.upgrade(config, revision)
