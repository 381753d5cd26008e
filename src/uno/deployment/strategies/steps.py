"""What every strategy shares: the rollout's context, waiting for health, the outcome.

A rollout converges: run again for the same deployment (its runner died or its worker
handed it back half-way), it adopts the version set the interrupted attempt created
instead of creating another, and takes the release that served before from what the
first attempt recorded (``previous``, in the deploy task's outputs) rather than from the
weights it finds, which the interrupted attempt may have moved already (``survey``).

Every wait has a deadline on the engine's clock; a wait for health also ends at once
when the platform says the version set is failing (every replica keeps exiting: a crash
loop), with why and the last lines its replicas wrote (``replica_log``).

Each step a strategy takes is noted in ``Rollout.steps`` (``"weights shop-v2=25
shop-v1=75"``), which the deploy task keeps in its outputs, so what happened is always
visible afterwards; each is also reported as it happens (the task's message, and
``steps`` so far in its outputs), so it is visible while the rollout runs too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.platforms import PlatformDriver, Release, VersionHealth, VersionSet
from uno.deployment.strategies.canary_control import CanaryControl
from uno.deployment.strategies.tuning import Tuning

HEALTH_POLL_SECONDS = 0.5  # the longest wait between two looks at a version's health
FIRST_HEALTH_POLL_SECONDS = 0.02  # the first wait; each next one is twice as long, up to the longest


@dataclass
class Rollout:
    driver: PlatformDriver
    release: Release
    replicas: int
    tuning: Tuning
    clock: Clock
    steps: list[str] = field(default_factory=list)
    analyses: list[dict[str, object]] = field(default_factory=list)  # one per canary step judged
    control: CanaryControl | None = None  # how people steer a canary; None: nobody can
    progress: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None  # where progress notes go
    decisions: list[dict[str, object]] = field(default_factory=list)  # people's and deadlines' canary decisions
    said: str = ""  # what ``report`` last said the rollout waits for
    previous: list[str] | None = None  # the version sets that served before this deployment, once known
    resume_step: int | None = None  # the canary step an interrupted attempt of this deployment had reached

    async def note(self, step: str) -> None:
        """Record a step, and show it to whoever watches the task (``steps`` so far, in its outputs, live).

        The task's message stays what the rollout last said it waits for (``report``: a
        canary's position), or none.
        """
        self.steps.append(step)
        if self.progress is not None:
            await self.progress(self.said, {"steps": list(self.steps)})

    async def report(self, message: str, **outputs: Any) -> None:
        """Say what the rollout waits for now, to whoever watches its task (a no-op without a runner)."""
        self.said = message
        if self.progress is not None:
            await self.progress(message, outputs)


@dataclass(frozen=True, slots=True)
class Survey:
    """What runs before a rollout changes anything (or carries on)."""

    others: list[VersionSet]  # the version sets of other releases
    own: VersionSet | None  # this deployment's own, left by an interrupted attempt
    before: list[VersionSet]  # those of ``others`` that served before this deployment began


async def survey(rollout: Rollout) -> Result[Survey]:
    """The application's version sets, split into this deployment's own and the others.

    The first attempt records which version sets serve (``previous``) before it changes
    anything; an attempt that carries on an interrupted one reads that record instead,
    because by then the traffic may already have moved to this deployment's version set.
    """
    listed = await current_versions(rollout)
    if isinstance(listed, Failure):
        return listed
    deployment_id = rollout.release.deployment_id
    mine = [version for version in listed.value if version.deployment_id == deployment_id]
    others = [version for version in listed.value if version.deployment_id != deployment_id]
    if rollout.previous is None:
        before = serving(others)
        rollout.previous = [version.id for version in before]
        if rollout.progress is not None:  # stored before any change, for an attempt that carries on
            await rollout.progress(rollout.said, {"previous": list(rollout.previous)})
    else:
        before = [version for version in others if version.id in rollout.previous]
    own = mine[0] if mine else None
    return Success(Survey([*others, *mine[1:]], own, before))


@dataclass(frozen=True, slots=True)
class RolloutOutcome:
    live: VersionSet
    kept: tuple[VersionSet, ...] = ()  # previous version sets kept warm for a fast rollback
    steps: tuple[str, ...] = ()
    downtime_seconds: float | None = None
    analyses: tuple[dict[str, object], ...] = ()
    decisions: tuple[dict[str, object], ...] = ()


def failed(message: str, **context: object) -> Failure:
    return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, dict(context)))


DISTURBED = "previous_disturbed"
"""Set on a failed rollout's context when the release that served before no longer serves
as it did (stopped by recreate, shrunk by rolling): only a rollback restores it."""


def disturbed(failure: Failure) -> Failure:
    """``failure``, saying the release before was stopped or shrunk on the way (see ``DISTURBED``)."""
    error = failure.error
    return Failure(ErrorDetails(error.code, error.message, {**error.context, DISTURBED: True}))


async def wait_healthy(rollout: Rollout, version: VersionSet) -> Result[VersionHealth]:
    """Poll the version's health until all its replicas are ready or the deadline passes.

    The first looks come soon (20 ms, then twice as long each time, up to
    ``HEALTH_POLL_SECONDS``): an application that starts in 100 ms is seen ready then,
    not half a second later.
    """
    deadline = rollout.clock.monotonic() + rollout.tuning.health_deadline_seconds
    last = "no health reported yet"
    pause = FIRST_HEALTH_POLL_SECONDS
    while True:
        health = await rollout.driver.version_health(version)
        if isinstance(health, Failure):
            return health
        if health.value.healthy:
            await rollout.note(f"{version.id} healthy ({health.value.ready}/{health.value.total} ready)")
            return health
        last = f"{health.value.ready}/{health.value.total} ready" + (
            f": {health.value.message}" if health.value.message else ""
        )
        if health.value.failing:  # waiting longer would only watch its replicas exit again
            message = f"{version.id} is failing: its replicas keep failing before they become healthy ({last})"
            return failed(message, version_set=version.id, replica_log=list(health.value.log_tail))
        if rollout.clock.monotonic() + pause > deadline:
            seconds = rollout.tuning.health_deadline_seconds
            return failed(f"{version.id} not healthy after {seconds:g}s ({last})", version_set=version.id)
        await rollout.clock.sleep(pause)
        pause = min(pause * 2, HEALTH_POLL_SECONDS)


async def route(rollout: Rollout, weights: dict[str, int]) -> Result[None]:
    routed = await rollout.driver.set_traffic(rollout.release.app_name, rollout.release.environment, weights)
    if isinstance(routed, Success):
        await rollout.note("weights " + " ".join(f"{name}={weight}" for name, weight in weights.items()))
    return routed


async def remove(rollout: Rollout, version: VersionSet) -> Result[None]:
    removed = await rollout.driver.destroy_version(version, drain_timeout=rollout.tuning.drain_seconds)
    if isinstance(removed, Success):
        if rollout.driver.capabilities.traffic_weights:
            await rollout.note(f"removed {version.id}")
        else:  # Heroku stops a live release's dynos; App Platform cannot stop one, its next deployment supersedes it
            await rollout.note(
                f"{version.id} stopped where the {rollout.driver.name} platform can stop it, else superseded by"
                " the next release (it runs one release at a time)"
            )
    return removed


async def current_versions(rollout: Rollout) -> Result[list[VersionSet]]:
    return await rollout.driver.list_versions(rollout.release.app_name, rollout.release.environment)


async def create(rollout: Rollout, replicas: int, own: VersionSet | None = None) -> Result[VersionSet]:
    """This release's version set with at least ``replicas``: a new one, or ``own`` (see ``survey``) adopted."""
    if own is None:
        created = await rollout.driver.create_version(rollout.release, replicas)
        if isinstance(created, Success):
            await rollout.note(f"created {created.value.id} with {replicas} replica(s)")
        return created
    if own.replicas < replicas:
        scaled = await rollout.driver.scale_version(own, replicas)
        if isinstance(scaled, Failure):
            return scaled
        own = scaled.value
    await rollout.note(f"adopted {own.id} with {own.replicas} replica(s), left by the interrupted attempt")
    return Success(own)


async def abandon(rollout: Rollout, version: VersionSet, back_to: list[VersionSet], reason: ErrorDetails) -> Failure:
    """Put traffic back on ``back_to``, remove ``version`` and fail with ``reason`` (best effort).

    On a platform that runs one release at a time (no traffic weights), ``back_to`` no
    longer runs: putting traffic back is the platform's rollback, and the steps say so.
    """
    if back_to:
        if not rollout.driver.capabilities.traffic_weights:
            names = ", ".join(item.id for item in back_to)
            await rollout.note(
                f"the {rollout.driver.name} platform had replaced {names} with {version.id}: rolling back to it"
                " with the platform's rollback (it starts again, it was not kept running)"
            )
        await route(rollout, _shares(back_to))
    await remove(rollout, version)
    return Failure(reason)


def _shares(versions: list[VersionSet]) -> dict[str, int]:
    """Weights that keep the serving versions' proportions (all to the first if they had none)."""
    total = sum(version.weight for version in versions)
    if total <= 0:
        return {versions[0].id: 100}
    return {version.id: version.weight for version in versions if version.weight > 0}


def serving(versions: list[VersionSet]) -> list[VersionSet]:
    return [version for version in versions if version.weight > 0]


async def keep_warm(rollout: Rollout, versions: list[VersionSet]) -> tuple[VersionSet, ...]:
    """Keep the previous release warm for the rollback window, then let the platform remove it.

    A platform that runs one release at a time (no traffic weights) keeps nothing warm:
    the steps say so, and a rollback there starts the earlier release again.
    """
    if not rollout.driver.capabilities.traffic_weights:
        for version in versions:
            await rollout.note(
                f"{version.id} is not kept running: the {rollout.driver.name} platform runs one release at a time;"
                " a rollback starts it again (the platform's rollback)"
            )
        return ()
    if not rollout.tuning.keep_previous:
        for version in versions:
            await remove(rollout, version)
        return ()
    window = rollout.tuning.rollback_window_seconds
    for version in versions:
        retired = await rollout.driver.retire_version(version, after=window, drain_timeout=rollout.tuning.drain_seconds)
        if isinstance(retired, Success):
            await rollout.note(f"kept {version.id} warm for {window:g}s (the rollback window)")
    return tuple(versions)
