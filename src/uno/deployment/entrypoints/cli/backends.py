"""Where the CLI's commands go: the services in this process, or an API server.

Every command is written once over ``Backend``; ``embedded`` calls the services through
the container bootstrap builds (the default: the embedded store), ``remote`` calls the
HTTP API (``--server URL`` / ``UNO_DEPLOY_SERVER``). Both answer with the same values
(domain objects, and ``Deployment``, the HTTP API's view of a deployment record), so a
command's output is the same either way.

A deployment started through the embedded backend runs in this process
(``runs_here``): the command that started it follows it to its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, PipelineStatus, TaskStatus
from uno.deployment.entrypoints import views

if TYPE_CHECKING:  # the look-around commands use ``Deployment`` without the services (``looking``)
    from uno.core.result import Result
    from uno.deployment.domain.configs import DeploymentConfig
    from uno.deployment.domain.deployments import DeploymentResult
    from uno.deployment.domain.differences import Diff
    from uno.deployment.domain.pipelines import Pipeline
    from uno.deployment.ports.approvals import Decision
    from uno.deployment.services.planning import DeploymentPlan


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment record as the HTTP API shows it (``DeploymentOut``), from either backend."""

    id: str
    config_id: str
    app_name: str
    app_version: str
    environment: str
    platform: str
    strategy: str
    kind: str
    status: DeploymentStatus
    success: bool
    message: str
    description: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pipeline_id: str | None
    rollback_of: str | None
    reached_platform: bool
    details: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    @classmethod
    def of(cls, record: DeploymentResult) -> Deployment:
        return cls(**views.deployment(record))

    @classmethod
    def stored(cls, document: dict[str, Any]) -> Deployment:
        """``of`` the record whose stored document this is (``views.stored_deployment``)."""
        return cls(**views.stored_deployment(document))

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Deployment:
        return cls(
            id=str(document["id"]),
            config_id=str(document["config_id"]),
            app_name=str(document["app_name"]),
            app_version=str(document["app_version"]),
            environment=str(document["environment"]),
            platform=str(document["platform"]),
            strategy=str(document["strategy"]),
            kind=str(document["kind"]),
            status=DeploymentStatus(document["status"]),
            success=bool(document["success"]),
            message=str(document.get("message", "")),
            description=str(document.get("description", "")),
            created_at=datetime.fromisoformat(document["created_at"]),
            started_at=_moment(document.get("started_at")),
            finished_at=_moment(document.get("finished_at")),
            pipeline_id=document.get("pipeline_id"),
            rollback_of=document.get("rollback_of"),
            reached_platform=bool(document.get("reached_platform", False)),
            details=dict(document.get("details", {})),
            version=int(document.get("version", 1)),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "config_id": self.config_id,
            "app_name": self.app_name,
            "app_version": self.app_version,
            "environment": self.environment,
            "platform": self.platform,
            "strategy": self.strategy,
            "kind": self.kind,
            "status": self.status.value,
            "success": self.success,
            "message": self.message,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "pipeline_id": self.pipeline_id,
            "rollback_of": self.rollback_of,
            "reached_platform": self.reached_platform,
            "details": self.details,
            "version": self.version,
        }

    @property
    def duration(self) -> float | None:
        """How long it ran; None while it runs, and for a rolled-back one (its end is the rollback's)."""
        if self.started_at is None or self.finished_at is None or self.status is DeploymentStatus.ROLLED_BACK:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def is_settled(self, pipeline: Pipeline | None, auto_rollback: bool) -> bool:
        """Ended, and nothing more will follow (an automatic rollback of a failed deploy runs after it ends)."""
        if not self.status.is_complete:
            return False
        deployed = pipeline.task_named("deploy") if pipeline else None
        rolls_back = (
            auto_rollback
            and self.kind == DeploymentKind.DEPLOY.value
            and pipeline is not None
            and pipeline.status is PipelineStatus.FAILED
            and deployed is not None
            and deployed.status is TaskStatus.SUCCEEDED
        )
        return not rolls_back or "automatic_rollback" in self.details or "not rolled back automatically" in self.message


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Backend(Protocol):
    """What the commands need, answered by the services here or by an API server."""

    @property
    def where(self) -> str:
        """The store or server the commands talk to, safe to print (no password, no token)."""
        ...

    @property
    def runs_here(self) -> bool:
        """Whether a deployment started through this backend runs in this process."""
        ...

    async def wait_ended(self, deployment_id: str, seconds: float) -> None:
        """Until a deployment running in this process ends, or ``seconds`` (always, for one that runs elsewhere)."""
        ...

    async def create_config(self, values: dict[str, Any]) -> Result[DeploymentConfig]: ...

    async def list_configs(
        self, app_name: str | None, environment: str | None, limit: int
    ) -> Result[list[DeploymentConfig]]: ...

    async def get_config(self, config_id: str) -> Result[DeploymentConfig]: ...

    async def update_config(
        self, config_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> Result[DeploymentConfig]: ...

    async def replace_config(self, config_id: str, values: dict[str, Any]) -> Result[DeploymentConfig]:
        """The configuration replaced by ``values`` whole (what they leave out back to the profile's default)."""
        ...

    async def delete_config(self, config_id: str) -> Result[None]: ...

    async def plan(self, config_id: str, *, live: bool = True) -> Result[DeploymentPlan]:
        """The plan of a stored configuration; ``live``: with the diff against what is live (reads the platform)."""
        ...

    async def plan_values(self, values: dict[str, Any], *, live: bool = True) -> Result[DeploymentPlan]:
        """The plan of a configuration given whole (a file), storing nothing."""
        ...

    async def diff(self, config_id: str) -> Result[Diff]:
        """What a deploy of a stored configuration would change against what is live."""
        ...

    async def diff_values(self, values: dict[str, Any]) -> Result[Diff]:
        """``diff`` of a configuration given whole (a file), storing nothing."""
        ...

    async def deploy(
        self, config_id: str, description: str, *, strict: bool | None = None, config_version: int | None = None
    ) -> Result[Deployment]:
        """Start deploying (the record as it started; follow it with ``deployment``); ``strict`` and
        ``config_version`` (that version or a ``CONFLICT``) as the service's."""
        ...

    async def rollback(self, deployment_id: str, to: str | None, restore_database: bool) -> Result[Deployment]: ...

    async def deployment(self, deployment_id: str) -> Result[Deployment]: ...

    async def deployments(
        self, app_name: str | None, environment: str | None, limit: int
    ) -> Result[list[Deployment]]: ...

    async def pipeline(self, pipeline_id: str) -> Result[Pipeline]: ...

    async def cancel(self, deployment_id: str, reason: str, *, by: str | None = None) -> Result[Deployment]:
        """Stop a running deployment; ``by`` names who stops it where the backend lets the caller say."""
        ...

    async def promote(self, deployment_id: str, full: bool) -> Result[Deployment]: ...

    async def abort(self, deployment_id: str, reason: str) -> Result[Deployment]: ...

    async def decide(self, pipeline_id: str, task_id: str, approved: bool, comment: str) -> Result[Decision]: ...

    async def aclose(self) -> None: ...
