"""One configuration per application and environment.

Revision ID: 0004
Revises: 0003
Created: 2026-12-07

Before, creating ``hello`` in ``dev`` twice made two configurations and ``deploy -f``
picked the newest. Now the pair is the configuration's identity: ``configs`` is unique
on (``app_name``, ``environment``) among the rows whose new ``superseded_by`` is null.
An old store's duplicates lose nothing: the newest of each pair (by ``created_at``, then
id: the one ``deploy -f`` has been picking) stays the configuration; each older one keeps
its row, document and id (deployments that name it still read it) with ``superseded_by``
set to the newest's id, so listings no longer show it. Downgrading drops the index and
the column and leaves every row in place.

A migration is a snapshot: it spells its types out instead of importing them from ``tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENT = sa.text("superseded_by IS NULL")


def upgrade() -> None:
    op.add_column("configs", sa.Column("superseded_by", _id(), nullable=True))
    _supersede_duplicates(op.get_bind())
    op.create_index(
        "uq_configs_app_name_environment",
        "configs",
        ["app_name", "environment"],
        unique=True,
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )


def downgrade() -> None:
    op.drop_index("uq_configs_app_name_environment", table_name="configs")
    with op.batch_alter_table("configs") as batch:
        batch.drop_column("superseded_by")


def _id(length: int = 128) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _supersede_duplicates(connection: sa.Connection) -> None:
    configs = sa.table(
        "configs",
        sa.column("id", sa.String()),
        sa.column("app_name", sa.String()),
        sa.column("environment", sa.String()),
        sa.column("created_at", sa.DateTime()),
        sa.column("superseded_by", sa.String()),
    )
    rows = connection.execute(
        sa.select(configs.c.id, configs.c.app_name, configs.c.environment).order_by(
            configs.c.created_at.desc(), configs.c.id.desc()
        )
    )
    newest: dict[tuple[str, str], str] = {}
    for identifier, app_name, environment in rows.all():
        kept = newest.setdefault((app_name, environment), identifier)
        if kept != identifier:
            connection.execute(sa.update(configs).where(configs.c.id == identifier).values(superseded_by=kept))
