"""The requests the AWS driver sends, built from a configuration: pure data, no network.

``render`` shows exactly these bodies and the driver sends exactly these bodies (it builds
its requests here and nowhere else), so what ``uno-deploy render`` prints for AWS is what
``aws ecs register-task-definition --cli-input-json`` or ``aws elbv2 modify-listener
--cli-input-json`` would accept. Tests check each body against botocore's own service model.

Names: a version set is the ECS service ``<app>-<environment>-<version>-<short id>``
(version dots become ``-``); its target group, whose name may not pass 32 characters, is
``<app, cut>-<hash of the service name>``; the task definition family is
``<app>-<environment>``, one revision per version set. Tags on everything carry the full
identity (``TAGS``): the driver only ever changes what carries ``uno.managed-by``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from uno.deployment.adapters.platforms.aws.options import AwsOptions, secret_names
from uno.deployment.domain import connections, quantities
from uno.deployment.domain.configs import DeploymentConfig

MANAGED_BY, MANAGER = "uno.managed-by", "uno-deployment"
APP, ENVIRONMENT, VERSION, DEPLOYMENT_ID = "uno.app", "uno.environment", "uno.version", "uno.deployment-id"
RETIRE_AFTER = "uno.retire-after"  # when the rollback window ends (ISO time): the next listing removes it
STATS_SINCE = "uno.stats-since"  # when canary statistics were last reset (ISO time)
AUTOSCALING = "uno.autoscaling"  # min:max:cpu, applied while the service serves all traffic
CONTAINER = "app"
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {  # cpu units -> (lowest MiB, highest MiB, step)
    256: (512, 2048, 512),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
_MIB = Decimal(1024 * 1024)


@dataclass(frozen=True, slots=True)
class Names:
    service: str
    target_group: str
    family: str


def names(config: DeploymentConfig, deployment_id: str, cluster: str = "") -> Names:
    """The version set's names; target group names are per account and region, so the cluster is in the hash."""
    app, environment = config.app_name, config.environment.value
    short = re.sub(r"[^a-z0-9]", "", deployment_id.lower().removeprefix("dep"))[-8:] or "pending"
    version = re.sub(r"[^A-Za-z0-9_-]", "-", config.app_version)
    service = f"{app}-{environment}-{version}-{short}"[:255]
    digest = hashlib.sha256(f"{cluster}/{service}".encode()).hexdigest()[:10]
    return Names(service, f"{app[:20].rstrip('-')}-{digest}", f"{app}-{environment}"[:255])


def identity(config: DeploymentConfig, deployment_id: str) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGER,
        APP: config.app_name,
        ENVIRONMENT: config.environment.value,
        VERSION: config.app_version,
        DEPLOYMENT_ID: deployment_id,
    }


def ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def elb_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def task_size(config: DeploymentConfig) -> tuple[int, int]:
    """The smallest Fargate (cpu units, MiB) that holds ``cpu_max`` and ``memory_max``."""
    cpu = math.ceil(quantities.parse_cpu(config.resources.cpu_max) * 1024)
    memory = math.ceil(quantities.parse_memory(config.resources.memory_max) / _MIB)
    for units, (low, high, step) in FARGATE_SIZES.items():
        if units >= cpu and memory <= high:
            return units, max(low, low + math.ceil((memory - low) / step) * step)
    return 16384, 122880  # the largest there is: ECS refuses the task if even that is too small


def task_definition(config: DeploymentConfig, chosen: AwsOptions, deployment_id: str) -> dict[str, Any]:
    """``ecs:RegisterTaskDefinition``: the container, its size, environment, secrets, health check and logs."""
    cpu, memory = task_size(config)
    body: dict[str, Any] = {
        "family": names(config, deployment_id, chosen.cluster).family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": [chosen.launch_type],
        "cpu": str(cpu),
        "memory": str(memory),
        "executionRoleArn": chosen.execution_role_arn,
        "containerDefinitions": [_container(config, chosen)],
        "tags": ecs_tags(identity(config, deployment_id)),
    }
    if chosen.task_role_arn:
        body["taskRoleArn"] = chosen.task_role_arn
    return body


def _container(config: DeploymentConfig, chosen: AwsOptions) -> dict[str, Any]:
    resources = config.resources
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": chosen.image,
        "essential": True,
        "cpu": math.ceil(quantities.parse_cpu(resources.cpu_min) * 1024),
        "memory": math.ceil(quantities.parse_memory(resources.memory_max) / _MIB),
        "memoryReservation": math.ceil(quantities.parse_memory(resources.memory_min) / _MIB),
        "portMappings": [{"containerPort": chosen.container_port, "protocol": "tcp"}],
        "environment": _environment(config, chosen),
        "readonlyRootFilesystem": config.security.read_only_root_filesystem,
    }
    arns = dict(chosen.secret_arns)
    if wanted := secret_names(config):
        container["secrets"] = [{"name": name, "valueFrom": arns[name]} for name in wanted]
    if config.monitoring.enable_logging:
        container["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": chosen.log_group,
                "awslogs-region": chosen.region,
                "awslogs-stream-prefix": config.app_name,
                "awslogs-create-group": "true",
            },
        }
    return container


def _environment(config: DeploymentConfig, chosen: AwsOptions) -> list[dict[str, str]]:
    """Plain variables only: ECS cannot splice a secret into another variable, so DATABASE_URL has no password.

    The password is its own variable (``database.password_env_var``), read from its secret.
    """
    variables = dict(sorted(config.environment_variables.items()))
    variables["APP_VERSION"] = config.app_version
    variables["PORT"] = str(chosen.container_port)
    database = config.database
    if database is not None:
        variables.update(connections.pool_environment(database))
        variables[connections.URL_VARIABLE] = connections.url_with(database, "")
    return [{"name": name, "value": value} for name, value in variables.items()]


def target_group(config: DeploymentConfig, chosen: AwsOptions, deployment_id: str) -> dict[str, Any]:
    """``elasticloadbalancing:CreateTargetGroup``: IP targets (awsvpc tasks), health checked on the app's path."""
    return {
        "Name": names(config, deployment_id, chosen.cluster).target_group,
        "Protocol": "HTTP",
        "Port": chosen.container_port,
        "VpcId": chosen.vpc_id,
        "TargetType": "ip",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPath": config.network.health_check_path,
        "HealthCheckIntervalSeconds": 10,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200-399"},
        "Tags": elb_tags(identity(config, deployment_id)),
    }


def service(
    config: DeploymentConfig,
    chosen: AwsOptions,
    deployment_id: str,
    *,
    replicas: int,
    task_definition_arn: str,
    target_group_arn: str,
) -> dict[str, Any]:
    """``ecs:CreateService``: the version set, registering its tasks in its own target group."""
    return {
        "cluster": chosen.cluster,
        "serviceName": names(config, deployment_id, chosen.cluster).service,
        "taskDefinition": task_definition_arn,
        "desiredCount": replicas,
        "launchType": chosen.launch_type,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": list(chosen.subnets),
                "securityGroups": list(chosen.security_groups),
                "assignPublicIp": "ENABLED" if chosen.assign_public_ip else "DISABLED",
            }
        },
        "loadBalancers": [
            {"targetGroupArn": target_group_arn, "containerName": CONTAINER, "containerPort": chosen.container_port}
        ],
        "healthCheckGracePeriodSeconds": chosen.health_check_grace_seconds,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
        "propagateTags": "SERVICE",
        "enableECSManagedTags": True,
        "tags": ecs_tags(_service_tags(config, deployment_id)),
    }


def _service_tags(config: DeploymentConfig, deployment_id: str) -> dict[str, str]:
    scaling = autoscaling(config)
    return {**identity(config, deployment_id), **({AUTOSCALING: scaling} if scaling else {})}


def forward(weights: Mapping[str, int]) -> list[dict[str, Any]]:
    """The one action that routes: forward to weighted target groups (none: a fixed 503)."""
    if not weights:
        return [
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain", "MessageBody": "no version"},
            }
        ]
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in sorted(weights.items())]
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]


def routing(chosen: AwsOptions, weights: Mapping[str, int]) -> tuple[str, dict[str, Any]]:
    """The one call that sets the weights: ``ModifyListener`` (default action) or ``ModifyRule`` (one rule)."""
    if chosen.listener_rule_arn:
        return "ModifyRule", {"RuleArn": chosen.listener_rule_arn, "Actions": forward(weights)}
    return "ModifyListener", {"ListenerArn": chosen.listener_arn, "DefaultActions": forward(weights)}


def scaling_resource(cluster: str, service_name: str) -> str:
    return f"service/{cluster.rpartition('/')[2]}/{service_name}"


def scalable_target(cluster: str, service_name: str, low: int, high: int) -> dict[str, Any]:
    """``application-autoscaling:RegisterScalableTarget``: the service's size between ``low`` and ``high``."""
    return {
        "ServiceNamespace": "ecs",
        "ResourceId": scaling_resource(cluster, service_name),
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": low,
        "MaxCapacity": max(low, high),
    }


def scaling_policy(cluster: str, service_name: str, cpu: int) -> dict[str, Any]:
    """``application-autoscaling:PutScalingPolicy``: target tracking on the service's average CPU."""
    return {
        "PolicyName": f"{service_name}-cpu"[:256],
        "ServiceNamespace": "ecs",
        "ResourceId": scaling_resource(cluster, service_name),
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(cpu),
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    }


def autoscaling(config: DeploymentConfig) -> str | None:
    """``min:max:cpu`` when the configuration autoscales (kept as the service's tag ``AUTOSCALING``), else None."""
    resources = config.resources
    if not resources.auto_scaling or resources.replicas_max <= resources.replicas_min:
        return None
    return f"{resources.replicas_min}:{resources.replicas_max}:{resources.auto_scaling_cpu_threshold}"


def metric_queries(load_balancer: str, target_group_dimension: str, latency: str) -> list[dict[str, Any]]:
    """``cloudwatch:GetMetricData`` queries for one target group: requests, 5xx, latency (per minute)."""
    dimensions = [
        {"Name": "LoadBalancer", "Value": load_balancer},
        {"Name": "TargetGroup", "Value": target_group_dimension},
    ]
    wanted = (("requests", "RequestCount", "Sum"), ("errors", "HTTPCode_Target_5XX_Count", "Sum"))
    queries = [_query(query_id, metric, stat, dimensions) for query_id, metric, stat in wanted]
    return [*queries, _query("latency", "TargetResponseTime", latency, dimensions)]


def _query(query_id: str, metric: str, stat: str, dimensions: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dimensions},
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def target_group_dimension(arn: str) -> str:
    """``targetgroup/<name>/<id>``: the ARN's resource part, as CloudWatch names it."""
    return arn.rsplit(":", 1)[1]


def load_balancer_dimension(listener_arn: str) -> str:
    """``app/<name>/<id>`` from a listener ARN (``...:listener/app/<name>/<id>/<listener id>``)."""
    tail = listener_arn.split(":listener/", 1)[1]
    return tail.rsplit("/", 1)[0]
