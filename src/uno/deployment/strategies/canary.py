"""Canary: send a growing share of traffic to the new release, judging it at each step.

At each weight step (10 → 25 → 50 → 100 by default) the statistics of both versions are
reset, traffic flows for ``analysis_seconds`` on the engine's clock, and the canary is
judged against the stable version (``analysis.judge``). A failed judgement puts all
traffic back on the stable version and removes the canary: the deploy fails saying why.
At 100 the canary is scaled to full size and becomes the stable version.
"""

from __future__ import annotations

import math

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.ports.platforms import TrafficStats, VersionSet
from uno.deployment.strategies import analysis, blue_green
from uno.deployment.strategies.steps import (
    Rollout,
    RolloutOutcome,
    abandon,
    create,
    current_versions,
    keep_warm,
    remove,
    route,
    serving,
    wait_healthy,
)


async def roll_out(rollout: Rollout) -> Result[RolloutOutcome]:
    capabilities = rollout.driver.capabilities
    if not (capabilities.traffic_weights and capabilities.traffic_stats):
        message = f"the {rollout.driver.name} platform cannot weigh and measure traffic per version: use blue-green"
        return Failure(ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": "strategy"}))
    versions = await current_versions(rollout)
    if isinstance(versions, Failure):
        return versions
    stable = serving(versions.value)
    if not stable:
        rollout.note("nothing serves yet: the first release goes live at once")
        return await blue_green.roll_out(rollout)
    tuning = rollout.tuning.canary
    canary = await create(rollout, _replicas(rollout.replicas, tuning.steps[0]))
    if isinstance(canary, Failure):
        return canary
    current = canary.value
    for step in tuning.steps:
        advanced = await _step(rollout, current, stable, step)
        if isinstance(advanced, Failure):
            return await abandon(rollout, current, stable, advanced.error)
        current = advanced.value
    for version in versions.value:
        if version not in stable:
            await remove(rollout, version)
    kept = await keep_warm(rollout, stable)
    return Success(RolloutOutcome(current, kept, tuple(rollout.steps), analyses=tuple(rollout.analyses)))


async def _step(rollout: Rollout, canary: VersionSet, stable: list[VersionSet], step: int) -> Result[VersionSet]:
    wanted = _replicas(rollout.replicas, step)
    if wanted > canary.replicas:
        scaled = await rollout.driver.scale_version(canary, wanted)
        if isinstance(scaled, Failure):
            return scaled
        canary = scaled.value
        rollout.note(f"scaled {canary.id} to {wanted}")
    healthy = await wait_healthy(rollout, canary)
    if isinstance(healthy, Failure):
        return healthy
    weights = {canary.id: step, **_stable_weights(stable, 100 - step)}
    routed = await route(rollout, weights)
    if isinstance(routed, Failure):
        return routed
    if step == 100:
        return Success(canary)
    return await _analyse(rollout, canary, stable, step)


async def _analyse(rollout: Rollout, canary: VersionSet, stable: list[VersionSet], step: int) -> Result[VersionSet]:
    tuning = rollout.tuning.canary
    for version in (canary, *stable):
        await rollout.driver.traffic_stats(version, reset=True)
    await rollout.clock.sleep(tuning.analysis_seconds)
    canary_stats = await rollout.driver.traffic_stats(canary)
    if isinstance(canary_stats, Failure):
        return canary_stats
    stable_stats = await _combined(rollout, stable)
    verdict = analysis.judge(canary_stats.value, stable_stats, tuning)
    rollout.note(f"analysis at {step}%: {'passed' if verdict.passed else 'failed'}: {verdict.summary}")
    rollout.analyses.append(
        {
            "step": step,
            "passed": verdict.passed,
            "canary_requests": canary_stats.value.requests,
            "canary_errors": canary_stats.value.errors,
            "stable_requests": stable_stats.requests if stable_stats else 0,
            "stable_errors": stable_stats.errors if stable_stats else 0,
            "reasons": list(verdict.reasons),
        }
    )
    if not verdict.passed:
        message = f"canary analysis failed at {step}%: {verdict.summary}"
        return Failure(
            ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"step": step, "analysis": list(verdict.reasons)})
        )
    return Success(canary)


async def _combined(rollout: Rollout, stable: list[VersionSet]) -> TrafficStats | None:
    measured = [await rollout.driver.traffic_stats(version) for version in stable]
    values = [result.value for result in measured if isinstance(result, Success)]
    if not values:
        return None
    p99s = [stats.p99_ms for stats in values if stats.p99_ms is not None]
    return TrafficStats(sum(s.requests for s in values), sum(s.errors for s in values), None, max(p99s, default=None))


def _replicas(total: int, step: int) -> int:
    return max(1, min(total, math.ceil(total * step / 100)))


def _stable_weights(stable: list[VersionSet], share: int) -> dict[str, int]:
    if share <= 0:
        return {}
    total = sum(version.weight for version in stable) or len(stable)
    return {version.id: round(share * (version.weight or 1) / total) for version in stable}
