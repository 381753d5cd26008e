"""Steering a canary by hand: pauses, promote and abort, on the fake platform and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment import DeploymentStatus, bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.platforms.fake import FakeDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.engine import templates
from uno.deployment.ports.platforms import TrafficStats
from uno.deployment.strategies import canary_control
from uno.deployment.strategies.tuning import tuning_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def configured(canary: dict[str, Any]) -> Any:
    given = {"app_name": "shop", "app_version": "1.0.0", "environment": "staging", "strategy": "canary"}
    config = configuring.build(new_config_id(), {**given, "custom_settings": {"canary": canary}}, NOW)
    assert isinstance(config, Success)
    return config.value


def tuned(canary: dict[str, Any]) -> Any:
    return tuning_for(configured(canary))


def test_pauses_are_off_unless_asked_for():
    canary = tuned({}).value.canary

    assert (canary.pause_after, canary.pause_timeout_seconds, canary.on_pause_timeout) == (frozenset(), 3600.0, "abort")


@pytest.mark.parametrize(
    ("pause_after", "expected"), [([25], {25}), ([10, 50], {10, 50}), ("every", {10, 25, 50}), ([], set())]
)
def test_pause_after_names_steps_or_every_step_below_100(pause_after, expected):
    canary = tuned({"pause_after": pause_after, "pause_timeout_seconds": 600, "on_pause_timeout": "promote"})

    assert canary.value.canary.pause_after == expected
    assert (canary.value.canary.pause_timeout_seconds, canary.value.canary.on_pause_timeout) == (600.0, "promote")


def test_the_deploy_step_has_time_for_every_pause():
    budget = templates.deploy_budget(configured({"pause_after": "every", "pause_timeout_seconds": 7200}))

    assert budget > 3 * 7200  # three pauses of two hours, and the health waits and analyses besides


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        (
            {"pause_after": [30]},
            "custom_settings.canary.pause_after[0]: 30 is not one of the canary's steps below 100 (10, 25, 50)",
        ),
        (
            {"steps": [20, 100], "pause_after": [20, 100]},
            "custom_settings.canary.pause_after[1]: 100 is not one of the canary's steps below 100 (20)",
        ),
        (
            {"pause_after": [True]},
            "custom_settings.canary.pause_after[0]: True is not one of the canary's steps below 100 (10, 25, 50)",
        ),
        (
            {"pause_after": "all"},
            'custom_settings.canary.pause_after: must be "every" or a list of the canary\'s steps below 100 '
            "(10, 25, 50)",
        ),
        (
            {"pause_timeout_seconds": 0},
            "custom_settings.canary.pause_timeout_seconds: must be a number from 1 to 604800",
        ),
        ({"on_pause_timeout": "wait"}, 'custom_settings.canary.on_pause_timeout: must be "abort" or "promote"'),
    ],
)
def test_bad_pause_settings_name_their_path(canary, message):
    refused = tuned(canary)

    assert isinstance(refused, Failure)
    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.message == message
    assert refused.error.context["field"] == message.split(":")[0]


# -- steering a running canary through DeploymentService, on the fake platform and clock --

QUICK = {"health_deadline_seconds": 2, "drain_seconds": 0}
CANARY = {"analysis_seconds": 5, "min_requests": 10}


@pytest.fixture
def platform() -> FakeDriver:
    driver = FakeDriver()
    driver.traffic["1.0.0"] = TrafficStats(1800, 9, 40.0, 100.0)
    driver.traffic["2.0.0"] = TrafficStats(200, 1, 40.0, 90.0)
    return driver


@pytest.fixture
def deployer(environ, memory_settings, platform: FakeDriver, fake_clock: FakeClock) -> bootstrap.Container:
    registry = DriverRegistry()
    registry.register("local", platform)
    return bootstrap.build(memory_settings, environ=environ, platforms=registry, clock=fake_clock)


class Shop:
    """Deploys versions of shop with canary on the fake clock, moving time until what a test waits for."""

    def __init__(self, deployer: bootstrap.Container, clock: FakeClock) -> None:
        self.deployer, self.clock = deployer, clock
        self.service = deployer.deployment_service

    async def start(self, version: str, strategy: str = "canary", **canary: Any) -> asyncio.Task[Any]:
        configs = self.deployer.config_service
        custom = {**QUICK, "canary": {**CANARY, **canary}}
        found = (await configs.list_configs(app_name="shop")).value
        if found:
            changed = await configs.update_config(
                found[0].id, app_version=version, strategy=strategy, custom_settings=custom
            )
        else:
            changed = await configs.create_config(
                app_name="shop",
                app_version=version,
                environment="staging",
                strategy=strategy,
                resource_requirements={"replicas_min": 4, "replicas_max": 4},
                security_config={"scan_images": False},  # a scanner runs on the real clock, not the test's
                custom_settings=custom,
            )
        return asyncio.create_task(self.service.deploy(changed.value.id))

    async def until(self, condition: Callable[[], Awaitable[bool]], *, step: float = 1.0, limit: int = 20_000) -> None:
        """Move fake time on a step at a time until ``condition`` holds; the deployment runs in between."""
        for _ in range(limit):
            for _ in range(50):
                await asyncio.sleep(0)  # let every ready task run: no time passes
            if await condition():
                return
            self.clock.advance(step)
        raise AssertionError("the condition never held")

    async def finish(self, running: asyncio.Task[Any]) -> Any:
        async def done() -> bool:
            return running.done()

        await self.until(done)
        return running.result().value

    async def release(self, version: str, **canary: Any) -> Any:
        return await self.finish(await self.start(version, **canary))

    async def running(self) -> Any:
        found = (await self.service.list_deployments(app_name="shop", status="running")).value
        return found[0] if found else None

    async def status(self) -> Any:
        record = await self.running()
        return (await self.service.get_status(record.id)).value if record else None

    def saying(self, prefix: str) -> Callable[[], Awaitable[bool]]:
        async def condition() -> bool:
            status = await self.status()
            return status is not None and (status.current_task_message or "").startswith(prefix)

        return condition

    async def deploy_outputs(self, record: Any) -> dict[str, Any]:
        pipeline = (await self.deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
        return pipeline.task_named("deploy").outputs


@pytest.fixture
async def shop(deployer: bootstrap.Container, fake_clock: FakeClock) -> Shop:
    shop = Shop(deployer, fake_clock)
    first = await shop.release("1.0.0")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    return shop


def canary_weights(platform: FakeDriver) -> list[int]:
    return [
        weight
        for call, weights in platform.calls
        if call == "set_traffic"
        for version_id, weight in weights.items()
        if "-2.0.0-" in version_id
    ]


async def test_a_paused_canary_waits_for_a_person_and_goes_on_when_promoted(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", pause_after=[25])
    await shop.until(shop.saying("paused at 25%"))

    status = await shop.status()
    assert status.current_task == "deploy"
    assert status.current_task_message.startswith("paused at 25% until promoted (deadline 2026-01-01 01:00:")
    assert status.current_task_message.endswith(" UTC, then abort)")
    shop.clock.advance(1800)  # half the pause: nobody has decided, so it still waits
    await shop.until(shop.saying("paused at 25%"))
    assert platform.serving() == {"2.0.0": 25, "1.0.0": 75}

    promoted = await shop.service.promote(status.deployment_id, by="alice")
    second = await shop.finish(running)

    assert promoted.value.id == status.deployment_id
    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert canary_weights(platform) == [10, 25, 50, 100]
    outputs = await shop.deploy_outputs(second)
    assert [(d["step"], d["decision"], d["by"]) for d in outputs["decisions"]] == [(25, "promote", "alice")]
    assert any(
        step.startswith("paused at 25% for ") and step.endswith(": promoted by alice") for step in outputs["steps"]
    )
    assert [analysis["step"] for analysis in outputs["analyses"]] == [10, 25, 50]


async def test_a_full_promotion_goes_to_100_at_once_once_healthy(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", pause_after=[10])
    await shop.until(shop.saying("paused at 10%"))
    platform.ready_after["2.0.0"] = 1  # scaled to full size, it is not ready at the first check

    await shop.service.promote((await shop.running()).id, full=True, by="alice")
    second = await shop.finish(running)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert canary_weights(platform) == [10, 100]
    outputs = await shop.deploy_outputs(second)
    assert [analysis["step"] for analysis in outputs["analyses"]] == [10]
    assert outputs["decisions"][0]["decision"] == "promote-full"
    healthy = [step for step in outputs["steps"] if step.endswith("healthy (4/4 ready)")]
    assert healthy, outputs["steps"]  # checked at full size before it took all the traffic
    assert platform.serving() == {"2.0.0": 100}


async def test_an_abort_while_paused_puts_the_stable_version_back(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", pause_after=[25])
    await shop.until(shop.saying("paused at 25%"))

    aborted = await shop.service.abort((await shop.running()).id, by="bob", reason="checkout errors on the dashboard")
    second = await shop.finish(running)

    assert aborted.is_success(), aborted
    assert second.status is DeploymentStatus.FAILED
    assert "canary aborted at 25% by bob: checkout errors on the dashboard" in second.message
    assert "automatic_rollback" not in second.details  # the stable version never stopped serving
    assert platform.serving() == {"1.0.0": 100}
    assert [v.version for v in platform.versions.values()] == ["1.0.0"]
    outputs = await shop.deploy_outputs(second)
    assert (outputs["step"], outputs["aborted_by"]) == (25, "bob")


async def test_an_abort_cuts_an_analysis_short(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", analysis_seconds=600)
    await shop.until(shop.saying("canary at 10%: analysing for 600s"))
    asked_at = shop.clock.monotonic()

    await shop.service.abort((await shop.running()).id, by="bob")
    second = await shop.finish(running)

    assert second.status is DeploymentStatus.FAILED
    assert "canary aborted at 10% by bob" in second.message
    assert shop.clock.monotonic() - asked_at <= 2  # read at the next poll, not at the end of the window
    assert (await shop.deploy_outputs(second))["analyses"] == []  # never judged
    assert platform.serving() == {"1.0.0": 100}


@pytest.mark.parametrize(
    ("on_timeout", "status", "serving"),
    [("abort", DeploymentStatus.FAILED, {"1.0.0": 100}), ("promote", DeploymentStatus.SUCCEEDED, {"2.0.0": 100})],
)
async def test_a_pause_nobody_decides_follows_its_on_pause_timeout_rule(
    shop: Shop, platform: FakeDriver, on_timeout, status, serving
):
    running = await shop.start("2.0.0", pause_after=[25], pause_timeout_seconds=60, on_pause_timeout=on_timeout)
    await shop.until(shop.saying("paused at 25%"))
    paused_at = shop.clock.monotonic()

    second = await shop.finish(running)

    assert second.status is status, second.message
    assert platform.serving() == serving
    decision = (await shop.deploy_outputs(second))["decisions"][0]
    assert (decision["step"], decision["decision"], decision["automatic"]) == (25, on_timeout, True)
    assert decision["reason"] == f"nobody decided within 60s (on_pause_timeout: {on_timeout})"
    if on_timeout == "abort":
        assert f"canary aborted at 25%: {decision['reason']}" in second.message
    assert shop.clock.monotonic() - paused_at >= 60


async def test_a_step_takes_one_decision_and_each_pause_its_own(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", pause_after="every")
    deployment_id = None
    for step in (10, 25, 50):
        await shop.until(shop.saying(f"paused at {step}%"))
        deployment_id = (await shop.running()).id
        first = await shop.service.promote(deployment_id, by="alice")
        second = await shop.service.abort(deployment_id, by="bob", reason="too late")

        assert first.is_success(), first
        assert second.error.code is ErrorCode.CONFLICT
        assert second.error.message == f"the canary's step at {step}% was already promoted by alice"
    done = await shop.finish(running)

    assert done.status is DeploymentStatus.SUCCEEDED, done.message
    decisions = (await shop.deploy_outputs(done))["decisions"]
    assert [(d["step"], d["by"]) for d in decisions] == [(10, "alice"), (25, "alice"), (50, "alice")]


async def test_a_decision_for_a_step_the_rollout_just_left_is_for_the_next_one(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", pause_after=[25])
    await shop.until(shop.saying("paused at 25%"))
    record = await shop.running()
    pipeline = (await shop.deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
    deploy = pipeline.task_named("deploy")
    control = canary_control.CanaryControl(shop.deployer.decisions, pipeline.id, deploy.id, deploy.attempts)
    gone_on = canary_control.CanaryDecision(
        canary_control.Move.PROMOTE, canary_control.AUTOMATIC, shop.clock.now(), "on its own", automatic=True
    )
    assert (await control.decide(25, gone_on)).is_success()  # as if the rollout left 25% a moment ago

    aborted = await shop.service.abort(record.id, by="bob", reason="seen on the dashboard")
    second = await shop.finish(running)

    assert aborted.is_success(), aborted
    assert "canary aborted at 50% by bob: seen on the dashboard" in second.message
    assert canary_weights(platform)[:3] == [10, 25, 50]


async def test_only_a_running_canary_can_be_steered(shop: Shop, platform: FakeDriver):
    finished = (await shop.service.list_deployments(app_name="shop")).value[0]
    platform.ready_after["2.0.0"] = 1000  # the blue-green deploy waits for health, on the fake clock
    running = await shop.start("2.0.0", strategy="blue-green")

    async def started() -> bool:
        return await shop.running() is not None

    await shop.until(started, step=0.1)
    blue_green = await shop.service.promote((await shop.running()).id)
    done = await shop.service.promote(finished.id)
    unknown = await shop.service.abort("dep-unknown")
    await shop.finish(running)

    assert blue_green.error.code is ErrorCode.INVALID_STATE
    assert "deploys with blue-green, not canary" in blue_green.error.message
    assert done.error.code is ErrorCode.INVALID_STATE
    assert done.error.message == f"deployment {finished.id.value} already succeeded: there is no canary to promote"
    assert unknown.error.code is ErrorCode.NOT_FOUND


async def test_a_canary_on_its_way_to_100_cannot_be_promoted_but_can_be_aborted(shop: Shop, platform: FakeDriver):
    running = await shop.start("2.0.0", steps=[50, 100])
    await shop.until(shop.saying("canary at 50%"))
    platform.ready_after["2.0.0"] = 1000  # at full size it is not ready yet: the rollout waits at 100
    await shop.until(shop.saying("canary moving to 100%"))
    deployment_id = (await shop.running()).id

    promoted = await shop.service.promote(deployment_id)
    aborted = await shop.service.abort(deployment_id, by="bob")
    platform.ready_after["2.0.0"] = 0
    second = await shop.finish(running)

    assert promoted.error.code is ErrorCode.INVALID_STATE
    assert "is already going to 100%" in promoted.error.message
    assert aborted.is_success(), aborted
    assert "canary aborted at 100% by bob" in second.message
    assert platform.serving() == {"1.0.0": 100}


async def test_a_first_release_has_no_canary_to_steer(deployer: bootstrap.Container, fake_clock: FakeClock, platform):
    shop = Shop(deployer, fake_clock)
    platform.ready_after["1.0.0"] = 1000  # nothing serves yet: it goes live at once, once healthy
    running = await shop.start("1.0.0")
    await shop.until(lambda: _deploying(shop), step=0.1)

    refused = await shop.service.promote((await shop.running()).id)
    platform.ready_after["1.0.0"] = 0
    first = await shop.finish(running)

    assert refused.error.code is ErrorCode.INVALID_STATE
    assert refused.error.message.endswith("has no canary step in progress to promote (its current task is 'deploy')")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message


async def _deploying(shop: Shop) -> bool:
    status = await shop.status()
    return status is not None and status.current_task == "deploy"
