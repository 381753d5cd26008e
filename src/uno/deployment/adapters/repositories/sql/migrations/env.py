"""Alembic's entry point for uno-deployment's schema.

It runs only through ``migrating`` (``uno-deploy db upgrade`` or the automatic upgrade at
start), which opens the transaction and passes its connection: there is no ini file and
no offline mode, so there is one way to migrate and it is the tested one.
"""

from __future__ import annotations

from alembic import context

from uno.deployment.adapters.repositories.sql import tables


def _ours(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """Comparisons with the models leave out the queue's tables (procrastinate owns them)."""
    return not (kind == "table" and reflected and name is not None and name.startswith("procrastinate_"))


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrate with `uno-deploy db upgrade`: it passes the connection to use")
    context.configure(
        connection=connection,
        target_metadata=tables.metadata,
        render_as_batch=True,  # SQLite alters a table by copying it
        compare_type=True,
        include_object=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
