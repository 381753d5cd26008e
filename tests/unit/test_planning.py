"""DeploymentService.plan: what a deploy would do, worked out without changing anything."""

from __future__ import annotations

from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.fake import FakeDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.services.planning import DeploymentPlan

LOCAL = {"command": ["python", "app.py"], "port": 8123, "health_deadline_seconds": 30}


@pytest.fixture
def planner(environ, memory_settings) -> bootstrap.Container:
    registry = DriverRegistry()
    registry.register("kubernetes", FakeDriver())
    return bootstrap.build(memory_settings, environ=environ, platforms=registry)


@pytest.fixture
def local_planner(environ, memory_settings, tmp_path) -> bootstrap.Container:
    settings = memory_settings.model_copy(update={"local_dir": tmp_path / "local"})
    return bootstrap.build(settings, environ=environ)


async def plan_of(container: bootstrap.Container, **options: Any) -> DeploymentPlan:
    options.setdefault("environment", "dev")
    config = (await container.config_service.create_config(app_name="shop", app_version="2.0.0", **options)).value
    return (await container.deployment_service.plan(config.id)).value


async def test_a_blue_green_plan_on_the_local_platform_lists_everything_a_deploy_would_do(local_planner):
    plan = await plan_of(
        local_planner,
        strategy="blue-green",
        resource_requirements={"replicas_min": 2, "replicas_max": 2},
        testing_config={"unit_test_command": ["python", "-m", "unittest"]},
        custom_settings=LOCAL,
    )

    assert [stage.name for stage in plan.stages] == ["preparation", "testing", "deployment", "verification"]
    deployment = plan.stages[2].tasks
    assert [task.name for task in deployment] == ["deploy"]
    assert plan.stages[3].tasks[1].depends_on == ("health-check",)
    assert plan.schedule.strategy == "blue-green"
    assert plan.schedule.steps[0] == "start 2 replica(s) of 2.0.0 (green) beside the serving release (blue)"
    assert "wait until green is healthy (up to 30s)" in plan.schedule.steps[1]
    assert plan.schedule.settings["rollback_window_seconds"] == 3600.0
    assert plan.platform_objects is not None
    router, processes = (item["body"] for item in plan.platform_objects["objects"])
    assert router["listen"] == "127.0.0.1:8123"
    assert processes["replicas"] == 2
    assert plan.lease == "shop/dev"
    assert plan.lease_holder is None
    assert plan.rollback_to is None
    assert plan.problems == ()
    assert DeploymentPlan.from_document(plan.to_document()) == plan


async def test_a_canary_plan_shows_each_weight_step_its_replicas_analysis_and_pauses(planner):
    canary = {"steps": [10, 50, 100], "analysis_seconds": 20, "pause_after": [50]}
    plan = await plan_of(
        planner,
        platform="kubernetes",
        strategy="canary",
        resource_requirements={"replicas_min": 4, "replicas_max": 4},
        custom_settings={"canary": canary},
    )

    assert plan.schedule.settings["steps"] == [
        {"weight": 10, "replicas": 1, "analysis_seconds": 20.0, "pause": False},
        {"weight": 50, "replicas": 2, "analysis_seconds": 20.0, "pause": True},
        {"weight": 100, "replicas": 4, "analysis_seconds": 20.0, "pause": False},
    ]
    assert "50% of traffic to 2.0.0 (2 replica(s)), analysed for 20s, then paused until promoted" in "\n".join(
        plan.schedule.steps
    )
    assert plan.platform_objects == {"version_set": "shop-dev-2.0.0", "replicas": 4, "strategy": "canary"}


async def test_a_rolling_plan_shows_its_batches(planner):
    plan = await plan_of(
        planner,
        platform="kubernetes",
        strategy="rolling",
        resource_requirements={"replicas_min": 5, "replicas_max": 5},
        custom_settings={"rolling": {"max_surge": 2}},
    )

    assert plan.schedule.settings["batches"] == [2, 4, 5]
    assert plan.schedule.steps[0].endswith("2/5 -> 4/5 -> 5/5")


async def test_settings_a_deploy_would_refuse_are_problems_with_their_field_paths(local_planner):
    plan = await plan_of(local_planner, strategy="canary", custom_settings={"canary": {"steps": [50, 10]}})

    assert plan.problems == (
        {"field": "custom_settings.canary.steps", "message": "must be rising percentages ending at 100"},
        {
            "field": "custom_settings.command",
            "message": "the local platform needs 'command': the program and its arguments, as a list",
        },
    )
    assert plan.platform_objects is None


async def test_a_platform_without_a_driver_is_a_problem_not_a_failure(local_planner):
    plan = await plan_of(local_planner, platform="custom")

    assert plan.problems[0]["field"] == "platform"
    assert "no platform driver is installed for 'custom'" in plan.problems[0]["message"]


async def test_an_unknown_configuration_is_not_found(planner):
    missing = await planner.deployment_service.plan("cfg-missing")

    assert missing.error.code is ErrorCode.NOT_FOUND


async def test_a_configuration_given_whole_is_planned_without_storing_it(local_planner):
    values = {"app_name": "shop", "app_version": "3.0.0", "environment": "dev", "custom_settings": LOCAL}

    plan = (await local_planner.deployment_service.plan_values(values)).value
    invalid = await local_planner.deployment_service.plan_values({**values, "resource_requirements": {"cpus": 2}})

    assert plan.config_id is None
    assert plan.app_version == "3.0.0"
    assert plan.platform_objects is not None
    assert (await local_planner.config_service.list_configs()).value == []
    assert invalid.error.code is ErrorCode.VALIDATION_ERROR
    assert invalid.error.message == "resource_requirements.cpus: is not a known field"


async def test_a_plan_says_what_a_deploy_would_change_against_what_is_live_and_why_not_when_it_cannot(
    planner, local_planner
):
    local = await plan_of(local_planner, custom_settings=LOCAL)
    assert local.diff is not None  # no agent runs and nothing is recorded: nothing is live yet
    assert [(item["kind"], item["change"]) for item in local.diff["objects"]] == [
        ("Router", "added"),
        ("Processes", "added"),
    ]
    assert local.diff_note == ""

    fake = await plan_of(planner, platform="kubernetes")
    assert fake.diff is None
    assert fake.diff_note == (
        "what is live is not known: the kubernetes driver cannot read what is live: diff is not available for it"
    )


async def test_a_plan_without_live_touches_no_platform(local_planner):
    config = (
        await local_planner.config_service.create_config(
            app_name="shop", app_version="2.0.0", environment="dev", custom_settings=LOCAL
        )
    ).value

    plan = (await local_planner.deployment_service.plan(config.id, live=False)).value

    assert (plan.diff, plan.diff_note) == (None, "not compared with what is live (asked not to)")
    assert plan.platform_objects is not None
