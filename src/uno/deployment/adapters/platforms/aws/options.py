"""The AWS platform's settings, read from a configuration's ``custom_settings``.

Keys (clients depend on them). Required: ``region``, ``cluster`` (ECS cluster name or ARN),
``image`` (the container image), ``subnets`` and ``security_groups`` (the tasks' ``awsvpc``
network), ``vpc_id`` (where target groups are made), ``execution_role_arn`` (the role ECS
pulls the image, writes logs and reads secrets with) and exactly one of ``listener_arn``
(the ALB listener whose default action this driver owns) or ``listener_rule_arn`` (one rule
of a shared listener: only that rule's action is changed). Optional: ``container_port``
(default 8080), ``assign_public_ip`` (default false), ``launch_type`` (``FARGATE``, the
default, or ``EC2``), ``task_role_arn``, ``secret_arns`` (secret name -> the Secrets Manager
or SSM Parameter Store ARN ECS reads it from: every name in ``secrets`` needs one),
``log_group`` (default ``/uno/<app>/<environment>``), ``health_check_grace_seconds``
(default 60) and ``latency_statistic`` (the CloudWatch statistic of ``TargetResponseTime``
canary analysis compares, default ``p99``).

Nothing here imports boto3: the settings are checked the same way whether or not the
extra is installed. Credentials are never settings: they come from the standard AWS chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_CLUSTER = re.compile(r"^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255})$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_LISTENER = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/[\w-]+/[0-9a-f]+/[0-9a-f]+$"
)
_RULE = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener-rule/app/[\w-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$"
)
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:\d{12}:secret:.+|ssm:[a-z0-9-]+:\d{12}:parameter/.+)$"
)
_LOG_GROUP = re.compile(r"^[\w#./-]{1,512}$")
_STATISTIC = re.compile(r"^(Average|Maximum|Minimum|p\d{1,2}(\.\d{1,2})?)$")
LAUNCH_TYPES = ("FARGATE", "EC2")

KEYS = frozenset(
    {
        "region",
        "cluster",
        "image",
        "container_port",
        "subnets",
        "security_groups",
        "vpc_id",
        "listener_arn",
        "listener_rule_arn",
        "execution_role_arn",
        "task_role_arn",
        "assign_public_ip",
        "launch_type",
        "secret_arns",
        "log_group",
        "health_check_grace_seconds",
        "latency_statistic",
    }
)


@dataclass(frozen=True, slots=True)
class AwsOptions:
    region: str
    cluster: str
    image: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    vpc_id: str
    execution_role_arn: str
    listener_arn: str | None = None
    listener_rule_arn: str | None = None
    container_port: int = 8080
    assign_public_ip: bool = False
    launch_type: str = "FARGATE"
    task_role_arn: str | None = None
    secret_arns: tuple[tuple[str, str], ...] = ()
    log_group: str = ""
    health_check_grace_seconds: int = 60
    latency_statistic: str = "p99"

    @property
    def routing_arn(self) -> str:
        """The listener or rule whose forward action carries the weights."""
        return self.listener_rule_arn or self.listener_arn or ""

    @property
    def listener_of_routing(self) -> str:
        """The listener the routing lives on (a rule's ARN names its listener)."""
        if self.listener_arn:
            return self.listener_arn
        head, _, _ = (self.listener_rule_arn or "").rpartition("/")
        return head.replace(":listener-rule/", ":listener/")


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def options_for(config: DeploymentConfig) -> Result[AwsOptions]:
    settings: dict[str, Any] = config.custom_settings
    unknown = sorted(key for key in settings if key.startswith("aws_"))
    if unknown:
        return _problem(unknown[0], "is not an aws setting (credentials come from the standard AWS chain)")
    found: dict[str, Any] = {}
    for read in (_required, _lists, _routing, _optional, _numbers, _secrets(config)):
        part = read(settings)
        if isinstance(part, Failure):
            return part
        found.update(part.value)
    found.setdefault("log_group", f"/uno/{config.app_name}/{config.environment.value}")
    chosen = AwsOptions(**found)
    key = "listener_arn" if chosen.listener_arn else "listener_rule_arn"
    if chosen.routing_arn.split(":")[3] != chosen.region:  # a load balancer serves its own region's services only
        return _problem(key, f"is in {chosen.routing_arn.split(':')[3]}, not in region {chosen.region}")
    return Success(chosen)


_REQUIRED = {
    "region": (_REGION, "an AWS region such as eu-west-1"),
    "cluster": (_CLUSTER, "an ECS cluster name or ARN"),
    "image": (_IMAGE, "a container image reference (example: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:1.2)"),
    "vpc_id": (_VPC, "a VPC id such as vpc-0abc1234"),
    "execution_role_arn": (_ROLE, "an IAM role ARN (arn:aws:iam::123456789012:role/ecsTaskExecutionRole)"),
}


def _required(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    found = {}
    for key, (pattern, what) in _REQUIRED.items():
        value = settings.get(key)
        if value is None:
            return _problem(key, f"the aws platform needs '{key}': {what}")
        if not isinstance(value, str) or not pattern.match(value):
            return _problem(key, f"must be {what}")
        found[key] = value
    return Success(found)


def _lists(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    found: dict[str, Any] = {}
    rules = {"subnets": (_SUBNET, "subnet-0abc1234", 16), "security_groups": (_SECURITY_GROUP, "sg-0abc1234", 5)}
    for key, (pattern, example, most) in rules.items():
        value = settings.get(key)
        if not isinstance(value, list) or not 1 <= len(value) <= most:
            return _problem(key, f"must be a list of 1 to {most} ids such as {example}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item):
                return _problem(f"{key}[{index}]", f"must be an id such as {example}")
        found[key] = tuple(value)
    return Success(found)


def _routing(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    listener, rule = settings.get("listener_arn"), settings.get("listener_rule_arn")
    if (listener is None) == (rule is None):
        return _problem("listener_arn", "give exactly one of listener_arn (an ALB listener) or listener_rule_arn")
    if listener is not None and (not isinstance(listener, str) or not _LISTENER.match(listener)):
        return _problem("listener_arn", "must be an Application Load Balancer listener ARN")
    if rule is not None and (not isinstance(rule, str) or not _RULE.match(rule)):
        return _problem("listener_rule_arn", "must be an Application Load Balancer listener rule ARN")
    return Success({"listener_arn": listener, "listener_rule_arn": rule})


def _optional(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    found: dict[str, Any] = {}
    public = settings.get("assign_public_ip", False)
    if not isinstance(public, bool):
        return _problem("assign_public_ip", "must be true or false")
    found["assign_public_ip"] = public
    launch = settings.get("launch_type", "FARGATE")
    if launch not in LAUNCH_TYPES:
        return _problem("launch_type", 'must be "FARGATE" (the default) or "EC2"')
    found["launch_type"] = launch
    rules = {
        "task_role_arn": (_ROLE, "an IAM role ARN"),
        "log_group": (_LOG_GROUP, "a CloudWatch Logs group name such as /uno/shop/production"),
        "latency_statistic": (_STATISTIC, "a CloudWatch statistic such as p99, p95 or Average"),
    }
    for key, (pattern, what) in rules.items():
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not pattern.match(value):
            return _problem(key, f"must be {what}")
        found[key] = value
    return Success(found)


def _numbers(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    limits = {"container_port": (1, 65535, 8080), "health_check_grace_seconds": (0, 2_147_483_647, 60)}
    found: dict[str, Any] = {}
    for key, (low, high, default) in limits.items():
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return _problem(key, f"must be a whole number from {low} to {high}")
        found[key] = value
    return Success(found)


def _secrets(config: DeploymentConfig) -> Any:
    """The ARN of each of the configuration's secrets (and of the database password's variable)."""

    def read(settings: dict[str, Any]) -> Result[dict[str, Any]]:
        given = settings.get("secret_arns", {})
        if not isinstance(given, dict):
            return _problem("secret_arns", "must map each secret's name to the ARN ECS reads it from")
        for name, arn in given.items():
            if not isinstance(arn, str) or not _SECRET_ARN.match(arn):
                return _problem(f"secret_arns.{name}", "must be a Secrets Manager secret or SSM parameter ARN")
        for name in secret_names(config):
            if name not in given:
                message = (
                    f"the secret {name} needs an ARN here: ECS reads it from Secrets Manager or SSM, never a value"
                )
                return _problem(f"secret_arns.{name}", message)
        return Success({"secret_arns": tuple(sorted(given.items()))})

    return read


def secret_names(config: DeploymentConfig) -> list[str]:
    """What the task reads from secrets: the configuration's secrets and the database password's variable."""
    database = config.database
    names = list(config.secrets)
    if database is not None and database.engine != "sqlite" and database.password_env_var:
        names += [] if database.password_env_var in names else [database.password_env_var]
    return names
