"""Environments, platforms, strategies and the status of everything that runs.

Every enum's ``.value`` is a stable lowercase string: it is what is stored, what the
HTTP API speaks and what the CLI prints.
"""

from __future__ import annotations

import enum


class _Named(enum.StrEnum):
    """An enum that also accepts its values in any case, with ``_`` for ``-``, and aliases."""

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}

    @classmethod
    def _missing_(cls, value: object) -> _Named | None:
        if not isinstance(value, str):
            return None
        normalized = value.strip().lower().replace("_", "-")
        normalized = cls._aliases().get(normalized, normalized)
        return next((member for member in cls if member.value == normalized), None)


class DeploymentEnvironment(_Named):
    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"development": "dev", "testing": "test", "stage": "staging", "prod": "production"}


class DeploymentPlatform(_Named):
    LOCAL = "local"
    KUBERNETES = "kubernetes"
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    HEROKU = "heroku"
    DIGITALOCEAN = "digitalocean"
    CUSTOM = "custom"


class DeploymentStrategy(_Named):
    BLUE_GREEN = "blue-green"
    ROLLING = "rolling"
    CANARY = "canary"
    RECREATE = "recreate"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"bluegreen": "blue-green"}


class _Status(enum.StrEnum):
    @property
    def is_complete(self) -> bool:
        """True when nothing will change this status any more."""
        return self.value in _TERMINAL

    @property
    def is_active(self) -> bool:
        return self.value in {"queued", "running", "rolling-back"}


_TERMINAL = frozenset({"succeeded", "failed", "skipped", "canceled", "rolled-back"})


class DeploymentStatus(_Status):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"


class PipelineStatus(_Status):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class StageStatus(_Status):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"


class TaskStatus(_Status):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"


class DeploymentKind(enum.StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
