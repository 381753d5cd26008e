"""Settings, from ``UNO_DEPLOY_*`` environment variables (or passed in code)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """How the composition root wires the services.

    ``storage`` picks the repositories: ``memory`` keeps everything in this process
    (tests, notebooks, the examples). Durable backends are added by the storage work.
    """

    model_config = SettingsConfigDict(env_prefix="UNO_DEPLOY_", extra="forbid", frozen=True)

    storage: Literal["memory"] = "memory"
    max_parallel_tasks: int = Field(default=8, ge=1, le=256)
    lease_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "DEBUG"
    """The lowest level any run logs at; each configuration's monitoring.log_level applies above it."""
    backup_dir: Path | None = None
    """Where database backups go (default: ``backups`` in the user's data directory)."""

    def resolved_backup_dir(self) -> Path:
        return self.backup_dir or Path(platformdirs.user_data_dir("uno-deployment")) / "backups"
