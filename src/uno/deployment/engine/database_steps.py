"""Database steps of a deploy: back up, migrate, restore.

The password is read from the variable the configuration names, at run time; it reaches
the programs through their environment only, and is never stored or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno.core.result import Failure
from uno.deployment.domain import connections
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.engine import secrecy
from uno.deployment.engine.actions import ActionContext, ActionOutcome, no_params

DEFAULT_MIGRATION_COMMAND = ["alembic", "upgrade", "head"]


class MigrateAction:
    """Run the database's migration command with ``DATABASE_URL`` set for it.

    The password is read from the variable the configuration names, at run time; it is
    passed to the command's environment only, never stored or logged.
    """

    kind = "db_migrate"
    free_form = False

    idempotent = False  # a migration cut off half-way is not ours to run again blindly

    def check(self, params: dict[str, Any]) -> str | None:
        return no_params(self.kind, params)

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        database = config.database if config else None
        if config is None or database is None:
            return ActionOutcome.failed("the configuration has no database to migrate")
        url = database_url(config, context.environ)
        if url is None:
            return ActionOutcome.failed(f"environment variable {database.password_env_var} is not set")
        command = database.migration_command or DEFAULT_MIGRATION_COMMAND
        outcome = await context.commands.run(
            command,
            env={**secrecy.configured_environment(config, context.environ), "DATABASE_URL": url},
            timeout=context.task.timeout,
        )
        return ActionOutcome.of_command("migrations", outcome)


class BackupAction:
    """Back up the configuration's database before anything changes it."""

    kind = "db_backup"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return no_params(self.kind, params)

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        if config is None or config.database is None:
            return ActionOutcome.failed("the configuration has no database to back up")
        label = context.pipeline.deployment_id.value
        taken = await context.tools.backups.backup(config, context.environ, label=label, timeout=context.task.timeout)
        if isinstance(taken, Failure):
            return ActionOutcome.failed(f"backup failed: {taken.error.message}")
        backup = taken.value
        return ActionOutcome.ok(
            f"backed up {config.database.engine} database to {backup.path}",
            backup_path=backup.path,
            size_bytes=backup.size_bytes,
        )


class RestoreAction:
    """Restore the database from a backup: ``{"backup_path": "..."}``.

    Free-form: the task names the file fed to ``pg_restore`` (or copied over the SQLite
    database), any file the server can read, so only an admin may define one by hand. A
    rollback's own restore step is built by the deployment service from its recorded backup.
    """

    kind = "db_restore"
    free_form = True

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        if set(params) != {"backup_path"} or not isinstance(params["backup_path"], str) or not params["backup_path"]:
            return "db_restore needs 'backup_path': the file a db_backup step wrote"
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        if config is None or config.database is None:
            return ActionOutcome.failed("the configuration has no database to restore")
        path = context.params["backup_path"]
        restored = await context.tools.backups.restore(config, context.environ, path, timeout=context.task.timeout)
        if isinstance(restored, Failure):
            return ActionOutcome.failed(f"restore failed: {restored.error.message}")
        return ActionOutcome.ok(f"restored the database from {path}", backup_path=path)


def database_url(config: DeploymentConfig, environ: Mapping[str, str]) -> str | None:
    """The application database's URL, with its password from the named variable (or None if unset)."""
    assert config.database is not None
    return connections.url_from(config.database, environ)
