"""Database backups: taken before a deploy, restored when a rollback asks for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from uno.core.result import Result
from uno.deployment.domain.configs import DeploymentConfig


@dataclass(frozen=True, slots=True)
class Backup:
    path: str
    engine: str
    size_bytes: int
    created_at: datetime


class DatabaseBackups(Protocol):
    async def backup(
        self, config: DeploymentConfig, environ: Mapping[str, str], *, label: str, timeout: float
    ) -> Result[Backup]:
        """Back up the configuration's database; keep ``database.backup_retention`` backups."""
        ...

    async def restore(
        self, config: DeploymentConfig, environ: Mapping[str, str], path: str, *, timeout: float
    ) -> Result[None]:
        """Put the database back as it was when ``path`` was taken."""
        ...
