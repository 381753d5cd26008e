"""The initial schema: configurations, deployment records, pipelines, leases, decisions.

Revision ID: 0001
Revises: none
Created: 2026-11-29

A migration is a snapshot: it spells its types out instead of importing them from
``tables``, so a later change to the models cannot change what this revision did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(length: int = 128) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _indexes(table: str, *columns: tuple[str, ...]) -> None:
    for names in columns:
        op.create_index(op.f(f"ix_{table}_{'_'.join(names)}"), table, list(names))


def upgrade() -> None:
    op.create_table(
        "configs",
        sa.Column("id", _id(), nullable=False),
        sa.Column("app_name", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configs")),
    )
    _indexes("configs", ("app_name", "environment", "created_at"), ("environment", "created_at"), ("created_at", "id"))
    op.create_table(
        "deployments",
        sa.Column("id", _id(), nullable=False),
        sa.Column("config_id", _id(), nullable=False),
        sa.Column("app_name", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    _indexes(
        "deployments",
        ("app_name", "environment", "created_at"),
        ("environment", "created_at"),
        ("status", "created_at"),
        ("config_id",),
        ("created_at", "id"),
    )
    op.create_table(
        "pipelines",
        sa.Column("id", _id(), nullable=False),
        sa.Column("deployment_id", _id(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    _indexes("pipelines", ("deployment_id", "created_at"), ("status", "created_at"), ("created_at", "id"))
    op.create_table(
        "pipeline_states",
        sa.Column("pipeline_id", _id(), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", _id(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_pipeline_states_pipeline_id_pipelines"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "subject_kind", "subject_id", name=op.f("pk_pipeline_states")),
    )
    op.create_table(
        "pipeline_events",
        sa.Column("pipeline_id", _id(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", _id(), nullable=False),
        sa.Column("old", sa.String(32), nullable=False),
        sa.Column("new", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_pipeline_events_pipeline_id_pipelines"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "seq", name=op.f("pk_pipeline_events")),
    )
    op.create_table(
        "leases",
        sa.Column("key", _id(255), nullable=False),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_leases")),
    )
    op.create_table(
        "decisions",
        sa.Column("pipeline_id", _id(), nullable=False),
        sa.Column("task_id", _id(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=False),
        sa.Column("decided_at", _time(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_id", "task_id", name=op.f("pk_decisions")),
    )


def downgrade() -> None:
    for table in ("decisions", "leases", "pipeline_events", "pipeline_states", "pipelines", "deployments", "configs"):
        op.drop_table(table)
