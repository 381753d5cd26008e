"""uno.deployment: configure, pipeline, deploy, verify and roll back applications.

The public API is what ``__all__`` lists; everything else is private and may change.
Resolve the services with ``inject.instance(...)``: reading a service, ``Settings`` or
``Container`` from this package (``from uno.deployment import DeploymentConfigService``)
leaves ``inject`` ready with the embedded defaults (built on first use, no store opened
then); ``configure(settings)`` chooses others.

The public names load on first use (PEP 562): ``import uno.deployment`` costs the
package alone, so a command that needs only a part (``uno-deploy --version``, a CLI
listing) pays for that part, not for every adapter.

The library logs through ``logging`` (loggers under ``uno.deployment``) and prints
nothing of its own: its logger has a ``NullHandler``, so an application that configures
no logging sees no warning either (Python's last-resort handler would print those on
stderr). The CLI and the server configure their own output.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from uno.core.errors import ErrorCode, ErrorDetails
    from uno.core.result import Failure, Result, Success
    from uno.deployment.bootstrap import Container, configure
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

    __version__: str

_MODULES: dict[str, tuple[str, ...]] = {
    "uno.core.errors": ("ErrorCode", "ErrorDetails"),
    "uno.core.result": ("Failure", "Result", "Success"),
    "uno.deployment.bootstrap": ("Container", "configure"),
    "uno.deployment.domain.configs": (
        "DatabaseConfig",
        "DeploymentConfig",
        "MonitoringConfig",
        "NetworkConfig",
        "ResourceRequirements",
        "SecurityConfig",
        "TestingConfig",
    ),
    "uno.deployment.domain.deployments": ("DeploymentProgress", "DeploymentResult"),
    "uno.deployment.domain.enums": (
        "DeploymentEnvironment",
        "DeploymentKind",
        "DeploymentPlatform",
        "DeploymentStatus",
        "DeploymentStrategy",
        "PipelineStatus",
        "StageStatus",
        "TaskStatus",
    ),
    "uno.deployment.domain.ids": ("DeploymentId", "PipelineId", "StageId", "TaskId"),
    "uno.deployment.domain.pipelines": ("Pipeline", "PipelineEvent", "Stage", "Task"),
    "uno.deployment.ports.repositories": (
        "DeploymentConfigRepository",
        "DeploymentResultRepository",
        "PipelineRepository",
    ),
    "uno.deployment.services.config_service": ("DeploymentConfigService",),
    "uno.deployment.services.deployment_service": ("DeploymentService",),
    "uno.deployment.services.pipeline_service": ("PipelineService",),
    "uno.deployment.settings": ("Settings",),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
_INJECTED = frozenset({"Container", "DeploymentConfigService", "DeploymentService", "PipelineService", "Settings"})
"""What ``inject.instance(...)`` is asked for: reading one of them installs the defaults first."""


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib import metadata  # noqa: PLC0415

        value: Any = metadata.version("uno-deployment")
    elif name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        if name in _INJECTED:
            importlib.import_module("uno.deployment.bootstrap").install_defaults()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
