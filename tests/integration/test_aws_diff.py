"""``diff`` on AWS against moto: the serving version set's objects, by role, beside a configuration's.

The driver reads through its own boto3 clients, pointed at moto by AWS_ENDPOINT_URL (see
tests/aws_support.py); nothing changes on AWS while it reads.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.aws_support import World
from uno.core.errors import ErrorCode
from uno.core.result import Success
from uno.deployment.adapters.platforms.aws.driver import AwsDriver
from uno.deployment.domain import configuring, differences
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release
from uno.deployment.services import diffing
from uno.deployment.services.diffing import DIFFED_RELEASE

pytestmark = pytest.mark.integration


def config_of(
    world: World,
    version: str = "1.0.0",
    *,
    cpu: str = "0.5",
    log_level: str = "info",
    settings: dict[str, Any] | None = None,
    **resources: Any,
):
    values = {
        "app_name": "shop",
        "app_version": version,
        "environment": "staging",
        "platform": "aws",
        "strategy": "blue-green",
        "custom_settings": world.settings(**(settings or {})),
        "environment_variables": {"LOG_LEVEL": log_level},
        "resources": {"replicas_min": 2, "replicas_max": 4, "auto_scaling": True, "cpu_max": cpu, **resources},
    }
    built = configuring.build(DeploymentId("cfg-aws"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


async def diffed(driver: AwsDriver, config) -> differences.Diff:
    read = await driver.live_objects(Release(DIFFED_RELEASE, config))
    assert read.is_success(), read
    objects = tuple(
        differences.compare(item.kind, item.name, item.wanted, item.live, note=item.note) for item in read.value
    )
    return differences.Diff("shop", "staging", "aws", objects)


async def deployed(driver: AwsDriver, config, deployment: str) -> str:
    """A release made and given all traffic, as a deploy leaves it."""
    made = await driver.create_version(Release(deployment, config), 2)
    assert made.is_success(), made
    switched = await driver.set_traffic("shop", "staging", {made.value.id: 100})
    assert switched.is_success(), switched
    return made.value.id


def changes(found: differences.Diff) -> dict[str, str]:
    return {item.kind: item.change for item in found.objects}


async def test_before_the_first_deploy_every_object_is_added_and_the_listener_leaves_its_fixed_response(world: World):
    driver = AwsDriver(world.environ)

    found = await diffed(driver, config_of(world))

    assert changes(found) == {
        "TaskDefinition": "added",
        "TargetGroup": "added",
        "Service": "added",
        "Listener": "changed",  # the listener is the user's: a deploy changes its action, it makes no listener
        "ScalableTarget": "added",
        "ScalingPolicy": "added",
    }
    listener = found.objects[3]
    paths = {item.path: (item.before, item.after) for item in listener.fields}
    assert paths["DefaultActions[0].Type"] == ("fixed-response", "forward")
    assert paths["DefaultActions[0].ForwardConfig.TargetGroups.(serving release)"] == (None, 100)
    assert world.services() == {}  # reading made nothing


async def test_the_configuration_that_serves_diffs_to_nothing_though_every_name_differs(world: World):
    driver = AwsDriver(world.environ)
    serving = await deployed(driver, config_of(world), "dep-aaaa1111")

    found = await diffed(driver, config_of(world))

    assert not found.changed, [item.to_document() for item in found.objects if item.change != "unchanged"]
    assert set(changes(found)) == {
        "TaskDefinition",
        "TargetGroup",
        "Service",
        "Listener",
        "ScalableTarget",
        "ScalingPolicy",
    }
    assert f"serving version set {serving}" in found.objects[0].note


async def test_a_changed_cpu_and_variable_show_as_those_fields_of_the_task_definition(world: World):
    driver = AwsDriver(world.environ)
    await deployed(driver, config_of(world), "dep-aaaa1111")

    found = await diffed(driver, config_of(world, cpu="1", log_level="debug"))

    assert changes(found)["TaskDefinition"] == "changed"
    assert {key: value for key, value in changes(found).items() if key != "TaskDefinition"} == {
        "TargetGroup": "unchanged",
        "Service": "unchanged",
        "Listener": "unchanged",
        "ScalableTarget": "unchanged",
        "ScalingPolicy": "unchanged",
    }
    fields = {item.path: (item.before, item.after) for item in found.objects[0].fields}
    assert fields == {
        "cpu": ("512", "1024"),
        "memory": ("1024", "2048"),  # 1 vCPU on Fargate takes 2 GiB at least
        "containerDefinitions[name=app].environment[name=LOG_LEVEL].value": ("info", "debug"),
    }


async def test_a_canary_under_way_shows_the_weights_a_deploy_would_set(world: World):
    driver = AwsDriver(world.environ)
    blue = await deployed(driver, config_of(world), "dep-aaaa1111")
    green = (await driver.create_version(Release("dep-bbbb2222", config_of(world, "2.0.0")), 2)).value
    assert (await driver.set_traffic("shop", "staging", {blue: 90, green.id: 10})).is_success()

    found = await diffed(driver, config_of(world))

    listener = found.objects[3]
    assert listener.change == "changed"
    moved = {item.path: (item.before, item.after) for item in listener.fields}
    group = world.services()[green.id]["loadBalancers"][0]["targetGroupArn"].split("/")[1]
    assert moved == {
        "DefaultActions[0].ForwardConfig.TargetGroups.(serving release)": (90, 100),
        f"DefaultActions[0].ForwardConfig.TargetGroups.{group}": (10, None),
    }


async def test_autoscaling_turned_off_removes_the_serving_releases_scaling(world: World):
    driver = AwsDriver(world.environ)
    await deployed(driver, config_of(world), "dep-aaaa1111")

    found = await diffed(driver, config_of(world, auto_scaling=False))

    assert changes(found)["ScalableTarget"] == "removed"
    assert changes(found)["ScalingPolicy"] == "removed"
    service = next(item for item in found.objects if item.kind == "Service")
    assert [(item.path, item.before, item.after) for item in service.fields] == [
        ("tags.uno.autoscaling", "2:4:75", None)
    ]


async def test_through_the_diff_service_on_a_rule_the_same_config_is_unchanged_and_a_wider_range_shows(world: World):
    elb = world.client("elbv2")
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
    rule = elb.create_rule(
        ListenerArn=world.listener,
        Priority=5,
        Conditions=[{"Field": "host-header", "Values": ["shop.example.com"]}],
        Actions=[fixed],
    )["Rules"][0]["RuleArn"]
    on_rule = {"listener_arn": None, "listener_rule_arn": rule}
    driver = AwsDriver(world.environ)
    await deployed(driver, config_of(world, settings=on_rule), "dep-aaaa1111")

    same = await diffing.diff(config_of(world, settings=on_rule), OnlyAws(driver))
    changed = await diffing.diff(config_of(world, settings=on_rule, replicas_max=6), OnlyAws(driver))

    assert same.is_success(), same
    assert not same.value.changed, [item.to_document() for item in same.value.objects if item.change != "unchanged"]
    listener = next(item for item in same.value.objects if item.kind == "Listener")
    assert listener.name == rule
    assert "Actions[0].ForwardConfig.TargetGroups.(serving release): 100" in listener.wanted_lines
    assert changed.is_success(), changed
    scaled = {item.kind: [(f.path, f.before, f.after) for f in item.fields] for item in changed.value.objects}
    assert scaled["ScalableTarget"] == [("MaxCapacity", 4, 6)]
    assert scaled["Service"] == [("tags.uno.autoscaling", "2:4:75", "2:6:75")]


class OnlyAws:
    """The drivers as ``diffing.diff`` asks for them: this one driver for every configuration."""

    def __init__(self, driver: AwsDriver) -> None:
        self.driver = driver

    def driver_for(self, config):
        return Success(self.driver)

    def declaration_for(self, platform: str):
        return self.driver.declaration


async def test_an_unreachable_endpoint_is_an_error_not_a_guess(world: World):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    driver = AwsDriver({**world.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})

    read = await driver.live_objects(Release(DIFFED_RELEASE, config_of(world)))

    assert read.is_failure()
    assert read.error.code is ErrorCode.PLATFORM_ERROR
    assert "Could not connect to the endpoint URL" in read.error.message
