"""The four strategies and rollback, end to end through DeploymentService, on the fake platform."""

from __future__ import annotations

import pytest

from uno.deployment import DeploymentStatus, bootstrap
from uno.deployment.adapters.platforms.fake import FakeDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.ports.platforms import Capabilities, TrafficStats

QUICK = {"health_deadline_seconds": 2, "drain_seconds": 0, "canary": {"analysis_seconds": 0.01, "min_requests": 10}}


@pytest.fixture
def platform() -> FakeDriver:
    return FakeDriver()


@pytest.fixture
def deployer(environ, memory_settings, platform: FakeDriver) -> bootstrap.Container:
    registry = DriverRegistry()
    registry.register("local", platform)
    return bootstrap.build(memory_settings, environ=environ, platforms=registry)


async def release(deployer: bootstrap.Container, version: str, strategy: str, replicas: int = 2, **settings):
    """Deploy ``version`` of shop in staging with ``strategy``, creating or updating its config."""
    service = deployer.config_service
    found = (await service.list_configs(app_name="shop")).value
    custom = {**QUICK, **settings}
    resources = {"replicas_min": replicas, "replicas_max": max(replicas, 4)}
    if found:
        config = (
            await service.update_config(found[0].id, app_version=version, strategy=strategy, custom_settings=custom)
        ).value
    else:
        config = (
            await service.create_config(
                app_name="shop",
                app_version=version,
                environment="staging",
                strategy=strategy,
                resource_requirements=resources,
                custom_settings=custom,
            )
        ).value
    return (await deployer.deployment_service.deploy(config.id)).value


async def test_recreate_replaces_the_version_and_reports_downtime(deployer, platform):
    await release(deployer, "1.0.0", "recreate")

    second = await release(deployer, "2.0.0", "recreate")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert platform.serving() == {"2.0.0": 100}
    assert [v.version for v in platform.versions.values()] == ["2.0.0"]
    deploy = await task_outputs(deployer, second, "deploy")
    assert deploy["downtime_seconds"] >= 0


async def test_blue_green_switches_at_once_and_keeps_blue_warm(deployer, platform):
    await release(deployer, "1.0.0", "blue-green")
    platform.calls.clear()

    second = await release(deployer, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    switches = [weights for call, weights in platform.calls if call == "set_traffic"]
    assert switches == [{next(v.id for v in platform.versions.values() if v.version == "2.0.0"): 100}]
    assert platform.serving() == {"2.0.0": 100}
    assert sorted(v.version for v in platform.versions.values()) == ["1.0.0", "2.0.0"]  # blue kept, at 0%


async def test_blue_green_rollback_is_a_traffic_switch_not_a_redeploy(deployer, platform):
    await release(deployer, "1.0.0", "blue-green")
    second = await release(deployer, "2.0.0", "blue-green")
    platform.calls.clear()

    rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.success is True, rollback.message
    assert platform.serving() == {"1.0.0": 100}
    assert not [call for call, _ in platform.calls if call == "create_version"]


async def test_an_unhealthy_green_never_gets_traffic(deployer, platform):
    await release(deployer, "1.0.0", "blue-green")
    platform.unhealthy.add("2.0.0")

    second = await release(deployer, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.FAILED
    assert "not healthy after 2s (0/2 ready: health endpoint answers 500)" in second.message
    assert platform.serving() == {"1.0.0": 100}
    assert [v.version for v in platform.versions.values()] == ["1.0.0"]


async def test_rolling_moves_traffic_in_batches(deployer, platform):
    await release(deployer, "1.0.0", "rolling", replicas=3)
    platform.calls.clear()

    second = await release(deployer, "2.0.0", "rolling", replicas=3)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    new_share = [
        weight
        for call, weights in platform.calls
        if call == "set_traffic"
        for version_id, weight in weights.items()
        if "-2.0.0-" in version_id
    ]
    assert new_share == sorted(new_share)
    assert new_share[0] < 100
    assert new_share[-1] == 100
    assert platform.serving() == {"2.0.0": 100}
    assert [v.version for v in platform.versions.values()] == ["2.0.0"]


async def test_canary_steps_through_its_weights_when_the_analysis_passes(deployer, platform):
    await release(deployer, "1.0.0", "canary", replicas=4)
    platform.traffic["2.0.0"] = TrafficStats(200, 1, 40.0, 90.0)
    platform.traffic["1.0.0"] = TrafficStats(1800, 9, 40.0, 100.0)
    platform.calls.clear()

    second = await release(deployer, "2.0.0", "canary", replicas=4)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    canary_weights = [
        weight
        for call, weights in platform.calls
        if call == "set_traffic"
        for vid, weight in weights.items()
        if "2.0.0" in vid
    ]
    assert canary_weights == [10, 25, 50, 100]
    steps = (await task_outputs(deployer, second, "deploy"))["steps"]
    assert sum(step.startswith("analysis at") and "passed" in step for step in steps) == 3


async def test_a_canary_that_errors_is_aborted_and_the_stable_version_keeps_serving(deployer, platform):
    await release(deployer, "1.0.0", "canary", replicas=4)
    platform.traffic["2.0.0"] = TrafficStats(100, 20, 40.0, 90.0)

    second = await release(deployer, "2.0.0", "canary", replicas=4)

    assert second.status is DeploymentStatus.FAILED
    assert "canary analysis failed at 10%: error rate 20.0% above 5.0%" in second.message
    assert platform.serving() == {"1.0.0": 100}
    assert [v.version for v in platform.versions.values()] == ["1.0.0"]


async def test_a_failed_verification_switches_back_to_the_warm_version(deployer, platform):
    await release(deployer, "1.0.0", "blue-green")
    platform.ready_after["2.0.0"] = 1  # healthy for the rollout, then:
    platform.calls.clear()
    original = platform.version_health

    async def flaky(version):
        if version.version == "2.0.0" and any(call == "set_traffic" for call, _ in platform.calls):
            from uno.core.result import Success
            from uno.deployment.ports.platforms import VersionHealth

            return Success(VersionHealth(0, version.replicas, "crashed after the switch"))
        return await original(version)

    platform.version_health = flaky  # type: ignore[method-assign]

    second = await release(deployer, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.ROLLED_BACK
    assert "rolled back automatically to 1.0.0" in second.message
    assert platform.serving() == {"1.0.0": 100}


async def test_canary_needs_a_platform_that_weighs_traffic(environ, memory_settings):
    platform = FakeDriver(Capabilities(traffic_weights=False, traffic_stats=False))
    registry = DriverRegistry()
    registry.register("local", platform)
    deployer = bootstrap.build(memory_settings, environ=environ, platforms=registry)
    await release(deployer, "1.0.0", "blue-green")

    second = await release(deployer, "2.0.0", "canary")

    assert "cannot weigh and measure traffic per version: use blue-green" in second.message
    assert platform.serving() == {"1.0.0": 100}


async def test_a_platform_that_weighs_but_does_not_measure_traffic_needs_health_analysis(environ, memory_settings):
    platform = FakeDriver(Capabilities(traffic_weights=True, traffic_stats=False))
    registry = DriverRegistry()
    registry.register("local", platform)
    deployer = bootstrap.build(memory_settings, environ=environ, platforms=registry)
    await release(deployer, "1.0.0", "blue-green")

    second = await release(deployer, "2.0.0", "canary")

    assert second.status is DeploymentStatus.FAILED
    assert 'set custom_settings.canary.analysis to "health"' in second.message
    assert platform.serving() == {"1.0.0": 100}
    assert [call for call, _ in platform.calls].count("create_version") == 1  # refused before changing anything


async def test_a_health_analysis_canary_steps_through_its_weights_judging_readiness(environ, memory_settings):
    platform = FakeDriver(Capabilities(traffic_weights=True, traffic_stats=False))
    registry = DriverRegistry()
    registry.register("local", platform)
    deployer = bootstrap.build(memory_settings, environ=environ, platforms=registry)
    await release(deployer, "1.0.0", "blue-green", replicas=4)
    steps = {"steps": [25, 50, 100], "analysis": "health", "analysis_seconds": 0.01}

    second = await release(deployer, "2.0.0", "canary", replicas=4, canary=steps)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert platform.serving() == {"2.0.0": 100}
    deploy = await task_outputs(deployer, second, "deploy")
    assert [(item["step"], item["analysis"], item["passed"]) for item in deploy["analyses"]] == [
        (25, "health", True),
        (50, "health", True),
    ]
    assert any("health only: no traffic statistics" in step for step in deploy["steps"])


async def test_an_unknown_canary_analysis_is_refused_naming_the_setting(deployer, platform):
    record = await release(deployer, "1.0.0", "canary", canary={"analysis": "vibes"})

    assert record.status is DeploymentStatus.FAILED
    assert "custom_settings.canary.analysis: must be" in record.message
    assert platform.versions == {}


async def test_bad_strategy_settings_fail_the_deploy_naming_the_setting(deployer, platform):
    second = await release(deployer, "1.0.0", "canary", canary={"steps": [50, 25]})

    assert second.status is DeploymentStatus.FAILED
    assert "custom_settings.canary.steps: must be rising percentages ending at 100" in second.message
    assert platform.versions == {}


async def task_outputs(deployer: bootstrap.Container, record, name: str) -> dict:
    pipeline = (await deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
    return pipeline.task_named(name).outputs


async def test_rollback_to_any_earlier_release(deployer, platform):
    first = await release(deployer, "1.0.0", "blue-green")
    await release(deployer, "2.0.0", "blue-green")
    third = await release(deployer, "3.0.0", "blue-green")
    service = deployer.deployment_service

    refused = await service.rollback(third.id, to=third.id)
    rollback = (await service.rollback(third.id, to=first.id)).value

    assert refused.error.context["field"] == "to"
    assert rollback.success is True, rollback.message
    assert rollback.app_version == "1.0.0"
    assert platform.serving() == {"1.0.0": 100}  # 1.0.0 was gone (blue keeps one): started again


async def test_rolling_back_past_several_releases_rolls_them_all_back(deployer, platform):
    first = await release(deployer, "1.0.0", "blue-green")
    second = await release(deployer, "2.0.0", "blue-green")
    third = await release(deployer, "3.0.0", "blue-green")
    service = deployer.deployment_service

    await service.rollback(third.id, to=first.id)
    fourth = await release(deployer, "4.0.0", "blue-green")
    again = (await service.rollback(fourth.id)).value

    assert (await service.get_deployment(second.id)).value.status is DeploymentStatus.ROLLED_BACK
    assert again.app_version == "1.0.0"  # what served before 4.0.0, not the rolled-back 2.0.0


async def test_min_requests_must_be_whole(deployer, platform):
    second = await release(deployer, "1.0.0", "canary", canary={"min_requests": 2.5})

    assert "custom_settings.canary.min_requests: must be a whole number" in second.message


async def test_blue_stays_warm_for_its_rollback_window_and_a_rollback_keeps_it(deployer, platform):
    await release(deployer, "1.0.0", "blue-green")
    second = await release(deployer, "2.0.0", "blue-green", blue_green={"rollback_window_seconds": 600})
    blue = next(v.id for v in platform.versions.values() if v.version == "1.0.0")

    assert platform.retiring == {blue: 600.0}
    rollback = (await deployer.deployment_service.rollback(second.id)).value
    assert rollback.success is True, rollback.message
    assert blue not in platform.retiring  # it serves again: not retiring any more


async def test_without_keep_previous_blue_goes_at_once(deployer, platform):
    await release(deployer, "1.0.0", "blue-green")

    await release(deployer, "2.0.0", "blue-green", blue_green={"keep_previous": False})

    assert [v.version for v in platform.versions.values()] == ["2.0.0"]


async def _auto_rollback(deployer: bootstrap.Container, enabled: bool) -> None:
    [config] = (await deployer.config_service.list_configs(app_name="shop")).value
    await deployer.config_service.update_config(config.id, auto_rollback=enabled)


async def test_a_failed_recreate_is_rolled_back_automatically_and_the_release_before_serves_again(deployer, platform):
    await release(deployer, "1.0.0", "recreate")
    await _auto_rollback(deployer, True)
    platform.unhealthy.add("2.0.0")

    second = await release(deployer, "2.0.0", "recreate")

    assert second.status is DeploymentStatus.ROLLED_BACK, second.message
    assert "rolled back automatically to 1.0.0" in second.message
    assert platform.serving() == {"1.0.0": 100}
    deploy = await task_outputs(deployer, second, "deploy")
    assert deploy["previous_disturbed"] is True


async def test_without_auto_rollback_a_failed_recreate_says_nothing_serves_the_release_before(deployer, platform):
    await release(deployer, "1.0.0", "recreate")
    await _auto_rollback(deployer, False)
    platform.unhealthy.add("2.0.0")

    second = await release(deployer, "2.0.0", "recreate")

    assert second.status is DeploymentStatus.FAILED
    assert second.message.endswith(
        "; the release before it was stopped on the way and auto_rollback is off: roll back or deploy again"
    )
    assert platform.serving() == {}


async def test_a_rolling_deploy_that_fails_after_shrinking_the_old_version_is_rolled_back_to_its_size(
    deployer, platform
):
    await release(deployer, "1.0.0", "rolling", replicas=3)
    await _auto_rollback(deployer, True)
    checks = {"2.0.0": 0}
    health = platform.version_health

    async def sickening(version):
        if version.version == "2.0.0":
            checks["2.0.0"] += 1
            if checks["2.0.0"] > 1:  # the first batch is healthy, the next never is
                platform.unhealthy.add("2.0.0")
        return await health(version)

    platform.version_health = sickening

    second = await release(deployer, "2.0.0", "rolling", replicas=3)

    assert second.status is DeploymentStatus.ROLLED_BACK, second.message
    assert platform.serving() == {"1.0.0": 100}
    [restored] = [v for v in platform.versions.values() if v.version == "1.0.0"]
    assert restored.replicas == 3
