"""Database backups: ``pg_dump``/``pg_restore`` for PostgreSQL, the online backup API for SQLite.

Backups live under ``<backup_dir>/<app>/<environment>/`` named by time and label, so the
newest sort last; after each backup only the newest ``database.backup_retention`` are
kept. The PostgreSQL password is read from the variable the configuration names and
handed to ``pg_dump`` in its environment (``PGPASSWORD``), never on a command line.

A PostgreSQL restore (``pg_restore --clean --if-exists --single-transaction``) puts every
object in the backup back as it was, data included, or changes nothing; objects created
after the backup (a new table) are left in place, harmless to the older release.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DatabaseConfig, DeploymentConfig
from uno.deployment.ports.backups import Backup
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.commands import CommandOutcome, CommandRunner

_SAFE_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


class FileBackups:
    def __init__(self, directory: Path, commands: CommandRunner, clock: Clock) -> None:
        self._directory = directory
        self._commands = commands
        self._clock = clock

    async def backup(
        self, config: DeploymentConfig, environ: Mapping[str, str], *, label: str, timeout: float
    ) -> Result[Backup]:
        database = config.database
        if database is None:
            return Failure(ErrorDetails.invalid_state("the configuration has no database to back up"))
        folder = self._directory / config.app_name / config.environment.value
        now = self._clock.now()
        stem = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{_SAFE_LABEL.sub('-', label)}"
        folder.mkdir(parents=True, exist_ok=True)
        if database.engine == "sqlite":
            path = folder / f"{stem}.sqlite3"
            taken = await _sqlite_copy(database, source=None, target=path)
        else:
            path = folder / f"{stem}.dump"
            taken = await self._pg(
                database, environ, ["pg_dump", "--format=custom", "--no-owner", "--file", str(path)], timeout
            )
        if isinstance(taken, Failure):
            path.unlink(missing_ok=True)
            return taken
        _prune(folder, database.backup_retention)
        return Success(Backup(str(path), database.engine, path.stat().st_size, now))

    async def restore(
        self, config: DeploymentConfig, environ: Mapping[str, str], path: str, *, timeout: float
    ) -> Result[None]:
        database = config.database
        if database is None:
            return Failure(ErrorDetails.invalid_state("the configuration has no database to restore"))
        if not await asyncio.to_thread(Path(path).is_file):
            return Failure(ErrorDetails.not_found("backup", path))
        if database.engine == "sqlite":
            return await _sqlite_copy(database, source=Path(path), target=None)
        argv = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", path]
        return await self._pg(database, environ, argv, timeout)

    async def _pg(
        self, database: DatabaseConfig, environ: Mapping[str, str], argv: list[str], timeout: float
    ) -> Result[None]:
        env = {"PGHOST": database.host or "localhost", "PGPORT": str(database.port), "PGDATABASE": database.name or ""}
        if database.user:
            env["PGUSER"] = database.user
        if database.ssl_mode:
            env["PGSSLMODE"] = database.ssl_mode
        if database.password_env_var:
            password = environ.get(database.password_env_var)
            if not password:
                return Failure(
                    ErrorDetails.invalid_state(f"environment variable {database.password_env_var} is not set")
                )
            env["PGPASSWORD"] = password
        if argv[0] == "pg_restore":
            argv = [*argv[:-1], "--dbname", database.name or "", argv[-1]]
        outcome = await self._commands.run(argv, env=env, timeout=timeout)
        return Success(None) if outcome.succeeded else Failure(_failed(argv[0], outcome))


def _failed(program: str, outcome: CommandOutcome) -> ErrorDetails:
    if outcome.start_error:
        reason = f"could not start: {outcome.start_error}"
    elif outcome.timed_out:
        reason = "timed out and was killed"
    else:
        reason = f"exited with code {outcome.returncode}: {outcome.stderr_tail.strip()[-500:]}"
    return ErrorDetails(ErrorCode.EXECUTION_ERROR, f"{program} {reason}", {"program": program})


async def _sqlite_copy(database: DatabaseConfig, *, source: Path | None, target: Path | None) -> Result[None]:
    """Copy the live database to ``target`` (a backup) or ``source`` into it (a restore)."""
    live = Path(database.name or "")
    if source is None and not await asyncio.to_thread(live.is_file):
        return Failure(ErrorDetails.not_found("SQLite database", str(live)))

    def copy() -> None:
        with sqlite3.connect(source or live) as origin, sqlite3.connect(target or live) as destination:
            origin.backup(destination)
        origin.close()
        destination.close()

    try:
        await asyncio.to_thread(copy)
    except sqlite3.Error as error:
        return Failure(ErrorDetails(ErrorCode.EXECUTION_ERROR, f"SQLite backup failed: {error}", {}))
    return Success(None)


def _prune(folder: Path, keep: int) -> None:
    backups = sorted(path for path in folder.iterdir() if path.suffix in (".dump", ".sqlite3"))
    for old in backups[: max(0, len(backups) - keep)]:
        old.unlink(missing_ok=True)
