"""Environments, platforms, strategies and the status of everything that runs.

Every enum's ``.value`` is a stable lowercase string: it is what is stored, what the
HTTP API speaks and what the CLI prints.
"""

from __future__ import annotations

import enum


class DeploymentEnvironment(enum.StrEnum):
    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @classmethod
    def _missing_(cls, value: object) -> DeploymentEnvironment | None:
        aliases = {"development": cls.DEV, "testing": cls.TEST, "stage": cls.STAGING, "prod": cls.PRODUCTION}
        return aliases.get(str(value).lower()) if isinstance(value, str) else None


class DeploymentPlatform(enum.StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    HEROKU = "heroku"
    DIGITALOCEAN = "digitalocean"
    CUSTOM = "custom"


class DeploymentStrategy(enum.StrEnum):
    BLUE_GREEN = "blue-green"
    ROLLING = "rolling"
    CANARY = "canary"
    RECREATE = "recreate"

    @classmethod
    def _missing_(cls, value: object) -> DeploymentStrategy | None:
        if isinstance(value, str):
            normalized = value.lower().replace("_", "-")
            for member in cls:
                if member.value == normalized:
                    return member
        return None


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
