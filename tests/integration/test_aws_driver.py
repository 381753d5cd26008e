"""The aws driver's primitives against moto's real HTTP server, through the driver's own boto3 clients.

The driver is pointed at moto by the standard AWS_ENDPOINT_URL in the environment it is
given. What moto cannot do (run tasks, report target health, measure traffic) is done from
outside the driver by ``EcsStandIn`` (see tests/aws_support.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import pytest

from tests.aws_support import EcsStandIn, World
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms import aws
from uno.deployment.adapters.platforms.aws.driver import AwsDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release, VersionSet

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def release(world: World, version: str, deployment: str, **settings: Any) -> Release:
    values = {
        "app_name": "shop",
        "app_version": version,
        "environment": "staging",
        "platform": "aws",
        "strategy": "blue-green",
        "custom_settings": world.settings(**settings),
        "resources": {"replicas_min": 2, "replicas_max": 4, "auto_scaling": True},
    }
    built = configuring.build(DeploymentId("cfg-aws"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return Release(deployment, built.value)


def driver_for(world: World, clock: Clock | None = None) -> AwsDriver:
    """The driver as bootstrap makes it (``aws.make_driver``), or on a test's clock (the windows are read on it)."""
    if clock is None:
        made = aws.make_driver(world.environ)
        assert isinstance(made, AwsDriver)
        return made
    return AwsDriver(world.environ, now=clock, poll_seconds=0.01)


async def created(driver: AwsDriver, world: World, version: str, deployment: str) -> VersionSet:
    chosen = release(world, version, deployment)
    assert driver.check(chosen.config).is_success()
    made = await driver.create_version(chosen, 2)
    assert made.is_success(), made
    return made.value


async def test_a_version_set_is_a_tagged_service_with_its_own_target_group_joined_at_weight_0(world: World):
    driver = driver_for(world)

    version = await created(driver, world, "1.0.0", "dep-aaaa1111")

    service = world.services()[version.id]
    tags = {tag["key"]: tag["value"] for tag in service["tags"]}
    assert tags["uno.version"] == "1.0.0"
    assert tags["uno.deployment-id"] == "dep-aaaa1111"
    assert tags["uno.managed-by"] == "uno-deployment"
    assert service["desiredCount"] == 2
    assert service["launchType"] == "FARGATE"
    assert list(world.weights().values()) == [0]  # joined, taking no traffic
    definition = world.client("ecs").describe_task_definition(taskDefinition=service["taskDefinition"])
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"].endswith("/shop:1")
    listed = (await driver.list_versions("shop", "staging")).value
    assert [(item.id, item.version, item.weight) for item in listed] == [(version.id, "1.0.0", 0)]


async def test_health_is_running_tasks_and_healthy_targets(world: World):
    driver = driver_for(world)
    version = await created(driver, world, "1.0.0", "dep-aaaa1111")

    before = (await driver.version_health(version)).value
    EcsStandIn(world).settle()
    after = (await driver.version_health(version)).value

    assert (before.ready, before.total, before.healthy) == (0, 2, False)
    assert (after.ready, after.total, after.healthy) == (2, 2, True)
    assert "2/2 task(s) running, 2 healthy target(s)" in after.message


async def test_traffic_moves_in_one_call_with_every_weight_and_scaling_follows(world: World):
    driver = driver_for(world)
    blue = await created(driver, world, "1.0.0", "dep-aaaa1111")
    green = await created(driver, world, "2.0.0", "dep-bbbb2222")
    calls: list[str] = []
    elb = driver.clients("eu-west-1").client("elbv2")
    elb.meta.events.register("before-call", lambda model, **_: calls.append(model.name))

    split = await driver.set_traffic("shop", "staging", {blue.id: 90, green.id: 10})

    assert split.is_success(), split
    assert [call for call in calls if call.startswith("Modify")] == ["ModifyListener"]
    listed = {item.version: item.weight for item in (await driver.list_versions("shop", "staging")).value}
    assert listed == {"1.0.0": 90, "2.0.0": 10}
    scaling = world.client("application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []  # nobody serves alone

    assert (await driver.set_traffic("shop", "staging", {green.id: 100})).is_success()
    listed = {item.version: item.weight for item in (await driver.list_versions("shop", "staging")).value}
    assert listed == {"1.0.0": 0, "2.0.0": 100}
    targets = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert [(item["ResourceId"], item["MinCapacity"], item["MaxCapacity"]) for item in targets] == [
        (f"service/{world.cluster}/{green.id}", 2, 4)
    ]


async def test_scaling_changes_the_desired_count(world: World):
    driver = driver_for(world)
    version = await created(driver, world, "1.0.0", "dep-aaaa1111")

    scaled = await driver.scale_version(version, 3)

    assert scaled.is_success(), scaled
    assert world.services()[version.id]["desiredCount"] == 3


async def test_destroy_removes_the_service_target_group_and_task_definition_and_nothing_else(world: World):
    driver = driver_for(world)
    blue = await created(driver, world, "1.0.0", "dep-aaaa1111")
    green = await created(driver, world, "2.0.0", "dep-bbbb2222")
    assert (await driver.set_traffic("shop", "staging", {green.id: 100})).is_success()
    definition = world.services()[blue.id]["taskDefinition"]
    group = world.services()[blue.id]["loadBalancers"][0]["targetGroupArn"]

    destroyed = await driver.destroy_version(blue, drain_timeout=5)

    assert destroyed.is_success(), destroyed
    assert list(world.services()) == [green.id]
    assert list(world.weights().values()) == [100]
    groups = world.client("elbv2").describe_target_groups()["TargetGroups"]
    assert group not in [item["TargetGroupArn"] for item in groups]
    described = world.client("ecs").describe_task_definition(taskDefinition=definition)["taskDefinition"]
    assert described["status"] == "INACTIVE"
    assert (await driver.destroy_version(blue, drain_timeout=5)).is_success()  # gone already: nothing to do


async def test_a_foreign_service_and_a_foreign_listener_rule_are_never_touched(world: World):
    ecs, elb = world.client("ecs"), world.client("elbv2")
    other = elb.create_target_group(Name="billing", Protocol="HTTP", Port=80, VpcId=world.vpc, TargetType="ip")
    other_group = other["TargetGroups"][0]["TargetGroupArn"]
    forward = [{"Type": "forward", "TargetGroupArn": other_group}]
    rule = elb.create_rule(
        ListenerArn=world.listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/billing/*"]}],
        Actions=forward,
    )["Rules"][0]
    ecs.register_task_definition(
        family="billing", containerDefinitions=[{"name": "billing", "image": "billing:1", "memory": 512}]
    )
    ecs.create_service(cluster=world.cluster, serviceName="billing", taskDefinition="billing", desiredCount=1)
    driver = driver_for(world)
    blue = await created(driver, world, "1.0.0", "dep-aaaa1111")
    assert (await driver.set_traffic("shop", "staging", {blue.id: 100})).is_success()
    assert (await driver.retire_version(blue, after=0, drain_timeout=0)).is_success()
    assert (await driver.set_traffic("shop", "staging", {})).is_success()

    listed = await driver.list_versions("shop", "staging")  # its window has passed: removed

    assert listed.is_success(), listed
    assert listed.value == []
    assert set(world.services()) == {"billing"}
    rules = elb.describe_rules(ListenerArn=world.listener)["Rules"]
    kept = next(item for item in rules if item["RuleArn"] == rule["RuleArn"])
    assert kept["Actions"][0]["TargetGroupArn"] == other_group


async def test_a_listener_forwarding_to_someone_elses_target_group_is_refused_before_anything_changes(world: World):
    elb = world.client("elbv2")
    other = elb.create_target_group(Name="legacy", Protocol="HTTP", Port=80, VpcId=world.vpc, TargetType="ip")
    legacy = other["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_listener(ListenerArn=world.listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": legacy}])
    driver = driver_for(world)
    chosen = release(world, "1.0.0", "dep-aaaa1111")
    assert driver.check(chosen.config).is_success()

    refused = await driver.create_version(chosen, 2)

    assert refused.is_failure()
    assert refused.error.code is ErrorCode.PLATFORM_ERROR
    assert "refusing to take it over" in refused.error.message
    assert legacy in refused.error.message
    assert world.services() == {}


async def test_the_rollback_window_is_a_tag_that_survives_a_restart_and_traffic_cancels(world: World):
    clock = Clock()
    driver = driver_for(world, clock)
    blue = await created(driver, world, "1.0.0", "dep-aaaa1111")
    green = await created(driver, world, "2.0.0", "dep-bbbb2222")
    assert (await driver.set_traffic("shop", "staging", {green.id: 100})).is_success()
    assert (await driver.retire_version(blue, after=600, drain_timeout=0)).is_success()

    restarted = driver_for(world, clock)  # a new process: only what is on AWS is known
    restarted.check(release(world, "2.0.0", "dep-bbbb2222").config)
    assert [item.version for item in (await restarted.list_versions("shop", "staging")).value] == ["1.0.0", "2.0.0"]
    assert (await restarted.set_traffic("shop", "staging", {blue.id: 100})).is_success()  # a rollback: warm switch
    clock.now += timedelta(seconds=601)
    kept = [item.version for item in (await restarted.list_versions("shop", "staging")).value]

    assert kept == ["1.0.0", "2.0.0"]  # traffic came back to it: no longer retiring
    assert "uno.retire-after" not in {tag["key"] for tag in world.services()[blue.id]["tags"]}
    assert (await restarted.retire_version(green, after=60, drain_timeout=0)).is_success()
    clock.now += timedelta(seconds=61)
    assert [item.version for item in (await restarted.list_versions("shop", "staging")).value] == ["1.0.0"]


async def test_traffic_statistics_come_from_cloudwatch_since_the_last_reset(world: World):
    clock = Clock()
    driver = driver_for(world, clock)
    blue = await created(driver, world, "1.0.0", "dep-aaaa1111")
    green = await created(driver, world, "2.0.0", "dep-bbbb2222")
    assert (await driver.set_traffic("shop", "staging", {blue.id: 50, green.id: 50})).is_success()
    ecs = EcsStandIn(world, failing_versions={"2.0.0"})
    ecs.send_traffic(40, at=clock.now - timedelta(minutes=2))  # before the window: not counted
    assert (await driver.traffic_stats(green, reset=True)).is_success()
    assert (await driver.traffic_stats(blue, reset=True)).is_success()

    for second in (5, 6, 7):
        ecs.send_traffic(100, at=clock.now + timedelta(seconds=second))
    clock.now += timedelta(seconds=10)
    restarted = driver_for(world, clock)  # the window's start is a tag on the service: a restart keeps it
    restarted.check(release(world, "2.0.0", "dep-bbbb2222").config)
    canary = (await restarted.traffic_stats(green)).value
    stable = (await restarted.traffic_stats(blue)).value

    assert (stable.requests, stable.errors) == (300, 0)
    assert (canary.requests, canary.errors) == (300, 150)
    assert canary.error_rate == 0.5
    assert canary.p99_ms == pytest.approx(20)


async def test_throttling_is_retried_with_backoff(world: World):
    driver = driver_for(world)
    version = await created(driver, world, "1.0.0", "dep-aaaa1111")
    ecs = driver.clients("eu-west-1").client("ecs")
    refusals = []

    def throttle(**_: Any) -> None:
        if len(refusals) < 2:
            refusals.append("throttled")
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise botocore.exceptions.ClientError(error, "DescribeServices")

    ecs.meta.events.register("before-call.ecs.DescribeServices", throttle)

    health = await driver.version_health(version)

    assert health.is_success(), health
    assert refusals == ["throttled", "throttled"]


async def test_an_aws_error_names_the_call_and_the_resource(world: World):
    driver = driver_for(world)
    chosen = release(world, "1.0.0", "dep-aaaa1111", cluster="no-such-cluster")
    assert driver.check(chosen.config).is_success()

    failed = await driver.create_version(chosen, 1)

    assert failed.is_failure()
    assert failed.error.code is ErrorCode.PLATFORM_ERROR
    assert failed.error.context["call"] == "ecs:DescribeServices"
    assert failed.error.context["resource"] == "shop-staging-1-0-0-aaaa1111"
    assert failed.error.context["aws_code"] == "ClusterNotFoundException"
    assert failed.error.message == "ecs:DescribeServices on shop-staging-1-0-0-aaaa1111: Cluster not found."


async def test_without_a_checked_configuration_the_driver_says_so(world: World):
    driver = driver_for(world)

    listed = await driver.list_versions("shop", "staging")

    assert listed.is_failure()
    assert "no configuration for shop in staging" in listed.error.message


async def test_a_sixth_target_group_in_the_forward_action_is_refused_saying_why(world: World):
    driver = driver_for(world)
    for number in range(5):
        await created(driver, world, f"1.0.{number}", f"dep-0000000{number}")

    chosen = release(world, "2.0.0", "dep-00000009")
    refused = await driver.create_version(chosen, 1)

    assert refused.is_failure()
    assert "at most 5" in refused.error.message
    assert len(world.services()) == 5
    groups = world.client("elbv2").describe_target_groups()["TargetGroups"]
    assert len([group for group in groups if group["VpcId"] == world.vpc]) == 5  # nothing made


async def test_with_a_rule_only_that_rule_is_changed(world: World):
    elb = world.client("elbv2")
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
    ours = elb.create_rule(
        ListenerArn=world.listener,
        Priority=5,
        Conditions=[{"Field": "host-header", "Values": ["shop.example.com"]}],
        Actions=[fixed],
    )["Rules"][0]["RuleArn"]
    driver = driver_for(world)
    chosen = release(world, "1.0.0", "dep-aaaa1111", listener_arn=None, listener_rule_arn=ours)
    assert driver.check(chosen.config).is_success()
    made = await driver.create_version(chosen, 2)
    assert made.is_success(), made

    switched = await driver.set_traffic("shop", "staging", {made.value.id: 100})

    assert switched.is_success(), switched
    rule = elb.describe_rules(RuleArns=[ours])["Rules"][0]
    groups = rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
    assert [group["Weight"] for group in groups] == [100]
    assert world.weights() == {}  # the listener's default action is untouched: still its fixed response
    listed = (await driver.list_versions("shop", "staging")).value
    assert [(item.version, item.weight) for item in listed] == [("1.0.0", 100)]
