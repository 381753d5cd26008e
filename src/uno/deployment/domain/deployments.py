"""Deployment records: what one deploy (or rollback) did, from request to outcome.

A ``DeploymentResult`` keeps a snapshot of the configuration it deployed, so history
and rollback never depend on the configuration staying as it was; the config id is
kept only as a reference and is never reused as the deployment's own id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentPlatform,
    DeploymentStatus,
    DeploymentStrategy,
)
from uno.deployment.domain.ids import DeploymentId, PipelineId
from uno.deployment.domain.pipelines import InvalidTransition

_MOVES: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    # pending or queued -> failed: it could not start (its pipeline or its job could not be stored)
    DeploymentStatus.PENDING: frozenset(
        {DeploymentStatus.QUEUED, DeploymentStatus.RUNNING, DeploymentStatus.CANCELED, DeploymentStatus.FAILED}
    ),
    DeploymentStatus.QUEUED: frozenset({DeploymentStatus.RUNNING, DeploymentStatus.CANCELED, DeploymentStatus.FAILED}),
    DeploymentStatus.RUNNING: frozenset(
        {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELED, DeploymentStatus.ROLLING_BACK}
    ),
    DeploymentStatus.SUCCEEDED: frozenset({DeploymentStatus.ROLLING_BACK}),
    DeploymentStatus.FAILED: frozenset({DeploymentStatus.ROLLING_BACK}),
    # canceled after it changed the platform with nobody to undo it (its runner had died)
    DeploymentStatus.CANCELED: frozenset({DeploymentStatus.ROLLING_BACK}),
    # a failed rollback returns the deployment to the status it had (its release still runs)
    DeploymentStatus.ROLLING_BACK: frozenset(
        {DeploymentStatus.ROLLED_BACK, DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELED}
    ),
}


@dataclass(slots=True)
class DeploymentResult:
    """The record of one deployment: its own id, the config it used and what happened."""

    id: DeploymentId
    config_id: DeploymentId
    config: DeploymentConfig
    created_at: datetime
    description: str = ""
    kind: DeploymentKind = DeploymentKind.DEPLOY
    status: DeploymentStatus = DeploymentStatus.PENDING
    success: bool = False
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pipeline_id: PipelineId | None = None
    rollback_of: DeploymentId | None = None
    reached_platform: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    @property
    def app_name(self) -> str:
        return self.config.app_name

    @property
    def app_version(self) -> str:
        return self.config.app_version

    @property
    def environment(self) -> DeploymentEnvironment:
        return self.config.environment

    @property
    def platform(self) -> DeploymentPlatform:
        return self.config.platform

    @property
    def strategy(self) -> DeploymentStrategy:
        return self.config.strategy

    def move(self, new: DeploymentStatus, now: datetime, message: str = "") -> None:
        if new not in _MOVES.get(self.status, frozenset()):
            raise InvalidTransition(f"deployment {self.id.value} cannot go from {self.status} to {new}")
        self.status = new
        if message:
            self.message = message
        if new is DeploymentStatus.RUNNING:
            self.started_at = now
        if new.is_complete:
            self.finished_at = now
        self.success = new is DeploymentStatus.SUCCEEDED

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id.value,
            "config_id": self.config_id.value,
            "config": self.config.to_document(),
            "created_at": self.created_at.isoformat(),
            "description": self.description,
            "kind": self.kind.value,
            "status": self.status.value,
            "success": self.success,
            "message": self.message,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "pipeline_id": self.pipeline_id.value if self.pipeline_id else None,
            "rollback_of": self.rollback_of.value if self.rollback_of else None,
            "reached_platform": self.reached_platform,
            "details": self.details,
            "version": self.version,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DeploymentResult:
        return cls(
            id=DeploymentId(document["id"]),
            config_id=DeploymentId(document["config_id"]),
            config=DeploymentConfig.from_document(document["config"]),
            created_at=datetime.fromisoformat(document["created_at"]),
            description=document.get("description", ""),
            kind=DeploymentKind(document.get("kind", "deploy")),
            status=DeploymentStatus(document["status"]),
            success=bool(document.get("success", False)),
            message=document.get("message", ""),
            started_at=_parse(document.get("started_at")),
            finished_at=_parse(document.get("finished_at")),
            pipeline_id=PipelineId(document["pipeline_id"]) if document.get("pipeline_id") else None,
            rollback_of=DeploymentId(document["rollback_of"]) if document.get("rollback_of") else None,
            reached_platform=bool(document.get("reached_platform", False)),
            details=dict(document.get("details", {})),
            version=int(document.get("version", 1)),
        )


@dataclass(frozen=True, slots=True)
class DeploymentProgress:
    """What ``get_status`` answers: where a deployment is, right now."""

    deployment_id: DeploymentId
    status: DeploymentStatus
    success: bool
    message: str
    progress: float
    current_stage: str | None
    current_task: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pipeline_id: PipelineId | None
    current_task_message: str | None = None  # what the running task says it is doing ("paused at 25% ...")
    not_honoured: tuple[dict[str, str], ...] = ()  # settings the platform does not honour (details["not_honoured"])


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
