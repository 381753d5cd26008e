"""uno.deployment: configure, pipeline, deploy, verify and roll back applications.

The public API is what ``__all__`` lists; everything else is private and may change.
Resolve the services with ``inject.instance(...)``: importing this package leaves
``inject`` ready with the embedded defaults (built on first use, no store opened at
import); ``configure(settings)`` chooses others.
"""

from importlib import metadata as _metadata

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.bootstrap import Container, configure
from uno.deployment.bootstrap import install_defaults as _install_defaults
from uno.deployment.domain.configs import (
    DatabaseConfig,
    DeploymentConfig,
    MonitoringConfig,
    NetworkConfig,
    ResourceRequirements,
    SecurityConfig,
    TestingConfig,
)
from uno.deployment.domain.deployments import DeploymentProgress, DeploymentResult
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentPlatform,
    DeploymentStatus,
    DeploymentStrategy,
    PipelineStatus,
    StageStatus,
    TaskStatus,
)
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task
from uno.deployment.ports.repositories import (
    DeploymentConfigRepository,
    DeploymentResultRepository,
    PipelineRepository,
)
from uno.deployment.services.config_service import DeploymentConfigService
from uno.deployment.services.deployment_service import DeploymentService
from uno.deployment.services.pipeline_service import PipelineService
from uno.deployment.settings import Settings

__version__ = _metadata.version("uno-deployment")

_install_defaults()

__all__ = [
    "Container",
    "DatabaseConfig",
    "DeploymentConfig",
    "DeploymentConfigRepository",
    "DeploymentConfigService",
    "DeploymentEnvironment",
    "DeploymentId",
    "DeploymentKind",
    "DeploymentPlatform",
    "DeploymentProgress",
    "DeploymentResult",
    "DeploymentResultRepository",
    "DeploymentService",
    "DeploymentStatus",
    "DeploymentStrategy",
    "ErrorCode",
    "ErrorDetails",
    "Failure",
    "MonitoringConfig",
    "NetworkConfig",
    "Pipeline",
    "PipelineEvent",
    "PipelineId",
    "PipelineRepository",
    "PipelineService",
    "PipelineStatus",
    "ResourceRequirements",
    "Result",
    "SecurityConfig",
    "Settings",
    "Stage",
    "StageId",
    "StageStatus",
    "Success",
    "Task",
    "TaskId",
    "TaskStatus",
    "TestingConfig",
    "__version__",
    "configure",
]
