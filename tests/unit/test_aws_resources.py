"""The AWS driver's settings and its requests, checked without a network.

Settings are refused with the field path of what is wrong; every request body ``render``
shows (and the driver sends: both build them in ``resources``) passes botocore's own
validator for its operation, which is AWS's service model as the SDK ships it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms import aws
from uno.deployment.adapters.platforms.aws import honoured, options, rendering, resources
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.domain import configuring, settings_catalogue
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release
from uno.deployment.services import honouring

ACCOUNT = "123456789012"
LISTENER = f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:listener/app/shop-lb/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee"
SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:shop/db-AbCdEf"
SETTINGS: dict[str, Any] = {
    "region": "eu-west-1",
    "cluster": "apps",
    "image": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/shop:1.4.2",
    "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    "security_groups": ["sg-0a1b2c3d4e5f60718"],
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "listener_arn": LISTENER,
    "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
    "secret_arns": {"DB_PASSWORD": SECRET},
}
BOTOCORE = botocore.session.get_session()


def config(strategy: str = "blue-green", settings: dict[str, Any] | None = None, **given: Any):
    values: dict[str, Any] = {
        "app_name": "shop",
        "app_version": "1.4.2",
        "environment": "production",
        "platform": "aws",
        "strategy": strategy,
        "custom_settings": SETTINGS if settings is None else settings,
        "environment_variables": {"FEATURE_CHECKOUT": "on"},
        "secrets": ["DB_PASSWORD"],
        "resources": {"cpu_max": "1", "memory_max": "3Gi", "replicas_min": 2, "replicas_max": 6, "auto_scaling": True},
    }
    values.update(given)
    built = configuring.build(DeploymentId("cfg-aws"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


def problem(**changed: Any) -> tuple[str, str]:
    settings = {key: value for key, value in {**SETTINGS, **changed}.items() if value is not None}
    found = options.options_for(config(settings=settings))
    assert found.is_failure(), changed
    assert found.error.code is ErrorCode.VALIDATION_ERROR
    return found.error.context["field"], found.error.message


def valid(service: str, operation: str, body: dict[str, Any]) -> None:
    model = BOTOCORE.get_service_model(service).operation_model(operation)
    report = ParamValidator().validate(body, model.input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"region": None}, "custom_settings.region"),
        ({"region": "Europe"}, "custom_settings.region"),
        ({"cluster": "has space"}, "custom_settings.cluster"),
        ({"image": "Not An Image"}, "custom_settings.image"),
        ({"subnets": []}, "custom_settings.subnets"),
        ({"subnets": ["subnet-0a1b2c3d4e5f60718", "eni-1"]}, "custom_settings.subnets[1]"),
        ({"security_groups": ["sg-x"]}, "custom_settings.security_groups[0]"),
        ({"vpc_id": "vpc1"}, "custom_settings.vpc_id"),
        ({"listener_arn": None}, "custom_settings.listener_arn"),
        ({"listener_rule_arn": RULE}, "custom_settings.listener_arn"),  # both given
        ({"listener_arn": RULE}, "custom_settings.listener_arn"),
        ({"execution_role_arn": "ecsTaskExecutionRole"}, "custom_settings.execution_role_arn"),
        ({"assign_public_ip": "yes"}, "custom_settings.assign_public_ip"),
        ({"launch_type": "LAMBDA"}, "custom_settings.launch_type"),
        ({"container_port": 0}, "custom_settings.container_port"),
        ({"secret_arns": {"DB_PASSWORD": "hunter2"}}, "custom_settings.secret_arns.DB_PASSWORD"),
        ({"secret_arns": None}, "custom_settings.secret_arns.DB_PASSWORD"),  # a secret with no ARN
        ({"latency_statistic": "median"}, "custom_settings.latency_statistic"),
        ({"aws_secret_access_key": "x"}, "custom_settings.aws_secret_access_key"),
        ({"region": "us-east-1"}, "custom_settings.listener_arn"),  # the listener is in eu-west-1
    ],
)
def test_settings_are_refused_with_the_path_of_what_is_wrong(changed: dict[str, Any], field: str):
    found, message = problem(**changed)

    assert found == field, message
    assert message


def test_a_secret_is_refused_without_an_arn_saying_why():
    _, message = problem(secret_arns={})

    assert "DB_PASSWORD" in message
    assert "never a value" in message


def test_a_rule_instead_of_the_listener_is_accepted():
    found = options.options_for(config(settings={**SETTINGS, "listener_arn": None, "listener_rule_arn": RULE}))

    assert found.is_success(), found
    assert found.value.routing_arn == RULE
    assert found.value.listener_of_routing == LISTENER


def test_the_declaration_covers_every_platform_setting_and_every_key():
    assert set(honoured.DECLARATION.settings) == set(settings_catalogue.PLATFORM_PATHS)
    assert honoured.DECLARATION.custom_settings == options.KEYS
    assert honoured.DECLARATION.settings["secrets"].honoured
    assert not honoured.DECLARATION.settings["network.use_https"].honoured


def rendered(strategy: str = "blue-green", **given: Any) -> dict[str, Any]:
    chosen = options.options_for(config(strategy, **given))
    assert chosen.is_success(), chosen
    return rendering.render(Release("dep-7f3a9c21", config(strategy, **given)), chosen.value)


@pytest.mark.parametrize("strategy", ["blue-green", "canary", "rolling", "recreate"])
def test_every_rendered_body_is_a_valid_request_for_its_call(strategy: str):
    found = rendered(strategy)

    kinds = [item["kind"] for item in found["objects"]]
    assert kinds == ["TaskDefinition", "TargetGroup", "Service", "Listener", "ScalableTarget", "ScalingPolicy"]
    for item in found["objects"]:
        prefix, operation = item["call"].split(":")
        service = {"elasticloadbalancing": "elbv2"}.get(prefix, prefix)
        valid(service, operation, item["body"])
        assert item["cli"].endswith("--cli-input-json")


def test_the_rule_form_renders_a_valid_modify_rule():
    settings = {**SETTINGS, "listener_arn": None, "listener_rule_arn": RULE}
    listener = rendered(custom_settings={k: v for k, v in settings.items() if v is not None})["objects"][3]

    assert listener["call"] == "elasticloadbalancing:ModifyRule"
    valid("elbv2", "ModifyRule", listener["body"])


def test_the_task_definition_says_what_runs_and_names_secrets_never_values():
    body = rendered()["objects"][0]["body"]

    assert (body["cpu"], body["memory"]) == ("1024", "3072")  # the smallest Fargate size holding 1 vCPU, 3 GiB
    container = body["containerDefinitions"][0]
    assert container["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": SECRET}]
    assert {"name": "FEATURE_CHECKOUT", "value": "on"} in container["environment"]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/uno/shop/production"
    tags = {tag["key"]: tag["value"] for tag in body["tags"]}
    assert tags[resources.MANAGED_BY] == "uno-deployment"
    assert tags[resources.DEPLOYMENT_ID] == "dep-7f3a9c21"


def test_the_listener_change_sends_all_traffic_to_the_new_target_group():
    found = rendered()
    group = found["objects"][1]["body"]["Name"]
    action = found["objects"][3]["body"]["DefaultActions"][0]

    weights = action["ForwardConfig"]["TargetGroups"]
    assert len(weights) == 1
    assert weights[0]["Weight"] == 100
    assert f"targetgroup/{group}/" in weights[0]["TargetGroupArn"]


def test_names_fit_the_rules_of_ecs_and_elb():
    long = config(app_name="a" + "b" * 60, app_version="1.2.3-rc.1+build.7")
    named = resources.names(long, "dep-0123456789abcdef", "apps")

    assert len(named.target_group) <= 32
    assert not named.target_group.endswith("-")
    assert named.service.endswith("-89abcdef")
    assert all(char.isalnum() or char in "-_" for char in named.service)


@pytest.mark.parametrize(
    ("cpu", "memory", "size"),
    [
        ("100m", "128Mi", (256, 512)),
        ("500m", "1Gi", (512, 1024)),
        ("2", "5Gi", (2048, 5120)),
        ("1", "9Gi", (2048, 9216)),
    ],
)
def test_the_task_size_is_the_smallest_fargate_size_that_holds_the_limits(cpu: str, memory: str, size: tuple[int, int]):
    assert resources.task_size(config(resources={"cpu_max": cpu, "memory_max": memory, "cpu_min": "100m"})) == size


async def test_without_the_extra_the_driver_refuses_but_still_renders():
    stand_in = aws.stand_in("boto3")
    release = Release("dep-1", config())

    checked = stand_in.check(config())
    assert checked.is_failure()
    assert "pip install 'uno-deployment[aws]'" in checked.error.message
    assert (await stand_in.render(release)).value["platform"] == "aws"


def test_an_unknown_custom_setting_is_refused_by_name():
    drivers = DriverRegistry({"aws": lambda: aws.make_driver({})})

    problems = honouring.unknown_custom_settings(config(settings={**SETTINGS, "clusterr": "apps"}), drivers)

    assert [problem["field"] for problem in problems] == ["custom_settings.clusterr"]
    assert honouring.unknown_custom_settings(config(), drivers) == []
