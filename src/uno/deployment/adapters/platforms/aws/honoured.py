"""What the ``aws`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against what ``resources`` renders. Pure data: importing it needs no extra, so the
declaration holds whether or not boto3 is installed.
"""

from __future__ import annotations

from uno.deployment.adapters.platforms.aws import options
from uno.deployment.adapters.platforms.kubernetes.honoured import scanner
from uno.deployment.ports.platforms import SettingsDeclaration, Support, honoured, not_honoured

_NOT_YET = "arrives with the observability work"
_POOL = "the container's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"
_TASK_SIZE = "the task's cpu/memory: the smallest Fargate size holding cpu_max and memory_max"
_CONTAINER = "the container's cpu (from cpu_min) and memoryReservation (from memory_min)"
_SCALING = "Application Auto Scaling target tracking on the serving service's CPU (with auto_scaling)"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": honoured(_CONTAINER),
    "resources.cpu_max": honoured(_TASK_SIZE),
    "resources.memory_min": honoured(_CONTAINER),
    "resources.memory_max": honoured(_TASK_SIZE + "; also the container's hard memory limit"),
    "resources.replicas_min": honoured("the ECS service's desiredCount (and the scalable target's minimum)"),
    "resources.replicas_max": honoured("the scalable target's maximum capacity (" + _SCALING + ")"),
    "resources.auto_scaling": honoured(_SCALING),
    "resources.auto_scaling_cpu_threshold": honoured("the target tracking policy's ECSServiceAverageCPUUtilization"),
    "network.domain": not_honoured(
        "the load balancer's DNS name and its listener are made once outside uno-deploy (docs/how-to/aws.md)"
    ),
    "network.use_https": not_honoured(
        "HTTPS is the listener's (an HTTPS listener with its ACM certificate, made once: docs/how-to/aws.md)"
    ),
    "network.port": not_honoured("the container listens on custom_settings.container_port (default 8080)"),
    "network.health_check_path": honoured("the target group's health check path"),
    "security.enable_network_policy": not_honoured(
        "on ECS the tasks' security groups (custom_settings.security_groups) say who may connect"
    ),
    "security.run_as_non_root": not_honoured(
        "ECS cannot require a non-root user without naming one: set USER in the image"
    ),
    "security.read_only_root_filesystem": honoured("the container's readonlyRootFilesystem"),
    "monitoring.enable_tracing": not_honoured(f"tracing {_NOT_YET}: no X-Ray sidecar is rendered yet"),
    "monitoring.enable_alerts": not_honoured(f"alerting {_NOT_YET}: no CloudWatch alarm is rendered yet"),
    "database.connection_pool_min": honoured(_POOL),
    "database.connection_pool_max": honoured(_POOL),
    "environment_variables": honoured("the container's environment"),
    "secrets": honoured("the container's secrets: valueFrom the ARN in custom_settings.secret_arns (never a value)"),
}

DECLARATION = SettingsDeclaration("aws", SETTINGS, options.KEYS, scanner=scanner)
