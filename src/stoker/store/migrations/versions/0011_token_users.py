"""Every token belongs to a user with a short URL-safe name (`tokens.user_name`): cluster URLs,
owners and `{user}` path parts use it, not the token's description. Existing tokens get one made
from their name (the admin tokens `admin`, the internal listener's `stoker-listener`), and clusters
owned by a token's description move to its user name.

Depends on 0010_cluster_duties, the newest revision when it was written: the history still has
several heads (the store's restructuring straightens them into one line).

Revision ID: 0011_token_users
Revises: 0010_cluster_duties
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0011_token_users"
down_revision = "0010_cluster_duties"
branch_labels = None
depends_on = None

_BUILTIN = {"admin (STOKER_ADMIN_TOKEN)": "admin", "admin (first start)": "admin",
            "internal: Spark listener of Stoker's own runs": "stoker-listener"}


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:32].strip("-._")
    return slug or "user"


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("user_name", sa.String(64)))
    conn = op.get_bind()
    tokens = sa.table("tokens", sa.column("id"), sa.column("name"), sa.column("user_name"),
                      sa.column("created_at"))
    clusters = sa.table("clusters", sa.column("owner"))
    taken: dict[str, str] = {}  # user name -> the description that has it
    for row in conn.execute(sa.select(tokens.c.id, tokens.c.name).order_by(tokens.c.created_at)).all():
        user = _BUILTIN.get(row.name) or _slug(row.name)
        if user in taken and taken[user] != row.name and row.name not in _BUILTIN:
            n = 2
            while f"{user}-{n}" in taken:
                n += 1
            user = f"{user}-{n}"
        taken.setdefault(user, row.name)
        conn.execute(tokens.update().where(tokens.c.id == row.id).values(user_name=user))
        conn.execute(clusters.update().where(clusters.c.owner == row.name).values(owner=user))
    op.create_index("ix_tokens_user_name", "tokens", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_tokens_user_name", "tokens")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("user_name")
