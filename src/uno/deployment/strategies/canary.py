"""Canary: send a growing share of traffic to the new release, judging it at each step.

At each weight step (10 → 25 → 50 → 100 by default) the statistics of both versions are
reset, traffic flows for ``analysis_seconds`` on the engine's clock, and the canary is
judged against the stable version (``analysis.judge``). A failed judgement puts all
traffic back on the stable version and removes the canary: the deploy fails saying why.
After the steps named in ``pause_after`` the canary waits (up to ``pause_timeout_seconds``)
for a person to promote or abort it; at any step a person's decision cuts the wait short
(``canary_control``). At 100 the canary is scaled to full size and becomes the stable version.

A platform that weighs traffic but measures none (``Capabilities.traffic_stats`` false, such as
Kubernetes without a metrics source) runs a canary only when its configuration accepts
judging each step on health alone (``canary.analysis: health``): the steps, pauses and
decisions are the same, and each analysis says it looked at readiness only.
"""

from __future__ import annotations

import math
from datetime import timedelta

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.ports.platforms import TrafficStats, VersionSet
from uno.deployment.strategies import analysis, blue_green, canary_control
from uno.deployment.strategies.canary_control import CanaryDecision, Move, Position
from uno.deployment.strategies.steps import (
    Rollout,
    RolloutOutcome,
    abandon,
    create,
    keep_warm,
    remove,
    route,
    survey,
    wait_healthy,
)


async def roll_out(rollout: Rollout) -> Result[RolloutOutcome]:
    refused = _refusal(rollout)
    if refused is not None:
        return Failure(refused)
    surveyed = await survey(rollout)
    if isinstance(surveyed, Failure):
        return surveyed
    stable = surveyed.value.before
    if not stable:
        await rollout.note("nothing serves yet: the first release goes live at once")
        return await blue_green.roll_out(rollout)
    tuning = rollout.tuning.canary
    canary = await create(rollout, _replicas(rollout.replicas, tuning.steps[0]), surveyed.value.own)
    if isinstance(canary, Failure):
        return canary
    current, steps = canary.value, list(tuning.steps)
    if surveyed.value.own is not None and rollout.resume_step in steps:
        # an attempt that carries on starts at the step the interrupted one was taking, judging it again
        steps = steps[steps.index(rollout.resume_step) :]
        await rollout.note(f"carrying on at {rollout.resume_step}%, the step the interrupted attempt was at")
    while steps:
        step = steps.pop(0)
        advanced = await _step(rollout, current, stable, step)
        if isinstance(advanced, Failure):
            return await abandon(rollout, current, stable, advanced.error)
        current, decision = advanced.value
        if decision.move is Move.PROMOTE_FULL:
            steps = steps[-1:]  # straight to 100
    for version in surveyed.value.others:
        if version not in stable:
            await remove(rollout, version)
    kept = await keep_warm(rollout, stable)
    return Success(
        RolloutOutcome(
            current, kept, tuple(rollout.steps), analyses=tuple(rollout.analyses), decisions=tuple(rollout.decisions)
        )
    )


def _refusal(rollout: Rollout) -> ErrorDetails | None:
    """Why this platform cannot run this canary (None when it can), before anything changes."""
    capabilities, name = rollout.driver.capabilities, rollout.driver.name
    if not capabilities.traffic_weights:
        message = f"the {name} platform cannot weigh and measure traffic per version: use blue-green"
        return ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": "strategy"})
    if not capabilities.traffic_stats and rollout.tuning.canary.analysis != "health":
        message = (
            f"the {name} platform cannot weigh and measure traffic per version: it measures no traffic, so "
            'set custom_settings.canary.analysis to "health" to judge each step on readiness alone, or use blue-green'
        )
        return ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": "custom_settings.canary.analysis"})
    return None


async def _step(
    rollout: Rollout, canary: VersionSet, stable: list[VersionSet], step: int
) -> Result[tuple[VersionSet, CanaryDecision]]:
    """Take the canary to ``step``% and judge it there; the step's decision says where to go next."""
    await _publish(rollout, f"canary moving to {step}%", Position(_attempt(rollout), step))
    wanted = _replicas(rollout.replicas, step)
    if wanted > canary.replicas:
        scaled = await rollout.driver.scale_version(canary, wanted)
        if isinstance(scaled, Failure):
            return scaled
        canary = scaled.value
        await rollout.note(f"scaled {canary.id} to {wanted}")
    healthy = await wait_healthy(rollout, canary)
    if isinstance(healthy, Failure):
        return healthy
    if step == 100:
        return await _go_live(rollout, canary)
    routed = await route(rollout, {canary.id: step, **_stable_weights(stable, 100 - step)})
    if isinstance(routed, Failure):
        return routed
    judged = await _analyse(rollout, canary, stable, step)
    if isinstance(judged, Failure):
        return judged
    decided = judged.value or await _pause(rollout, step)
    return _aborted(step, decided) if decided.move is Move.ABORT else Success((canary, decided))


async def _go_live(rollout: Rollout, canary: VersionSet) -> Result[tuple[VersionSet, CanaryDecision]]:
    """The last step: a last chance to abort before the stable version stops serving, then 100%."""
    decided = await _settle(rollout, 100, Move.PROMOTE, "healthy at full size")
    if decided.move is Move.ABORT:
        return _aborted(100, decided)
    routed = await route(rollout, {canary.id: 100})
    return routed if isinstance(routed, Failure) else Success((canary, decided))


async def _analyse(
    rollout: Rollout, canary: VersionSet, stable: list[VersionSet], step: int
) -> Result[CanaryDecision | None]:
    """Judge the step: its decision, or None when it passed and pauses for a person."""
    tuning = rollout.tuning.canary
    if tuning.analysis == "traffic":
        for version in (canary, *stable):
            await rollout.driver.traffic_stats(version, reset=True)
    position = Position(_attempt(rollout), step)
    await _publish(rollout, f"canary at {step}%: analysing for {tuning.analysis_seconds:g}s", position)
    early = await canary_control.watch(rollout.control, rollout.clock, step, tuning.analysis_seconds)
    if early is not None:
        await rollout.note(f"analysis at {step}%: cut short: {early.describe()}")
        rollout.decisions.append(early.to_output(step))
        return Success(early)
    judged = await _judge(rollout, canary, stable, step)
    if isinstance(judged, Failure):
        return judged
    verdict = judged.value
    if not verdict.passed:
        message = f"canary analysis failed at {step}%: {verdict.summary}"
        decided = await _settle(rollout, step, Move.ABORT, message)
        if decided.automatic:
            return Failure(
                ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"step": step, "analysis": list(verdict.reasons)})
            )
        return Success(decided)  # a person decided the step while it was being judged
    if step in tuning.pause_after:
        return Success(None)
    return Success(await _settle(rollout, step, Move.PROMOTE, "analysis passed"))


async def _judge(rollout: Rollout, canary: VersionSet, stable: list[VersionSet], step: int) -> Result[analysis.Verdict]:
    """Read the step's window of traffic and judge the canary by it; the verdict is noted."""
    if rollout.tuning.canary.analysis == "health":
        return await _judge_health(rollout, canary, step)
    canary_stats = await rollout.driver.traffic_stats(canary)
    if isinstance(canary_stats, Failure):
        return canary_stats
    stable_stats = await _combined(rollout, stable)
    verdict = analysis.judge(canary_stats.value, stable_stats, rollout.tuning.canary)
    await rollout.note(f"analysis at {step}%: {'passed' if verdict.passed else 'failed'}: {verdict.summary}")
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
    return Success(verdict)


async def _judge_health(rollout: Rollout, canary: VersionSet, step: int) -> Result[analysis.Verdict]:
    """Judge the step on the canary's readiness alone (``analysis: health``); the verdict says so."""
    health = await rollout.driver.version_health(canary)
    if isinstance(health, Failure):
        return health
    state = health.value
    seen = f"{state.ready}/{state.total} ready (health only: no traffic statistics)"
    verdict = analysis.Verdict(state.healthy, (seen if state.healthy else f"{seen}: {state.message or 'not ready'}",))
    await rollout.note(f"analysis at {step}%: {'passed' if verdict.passed else 'failed'}: {verdict.summary}")
    rollout.analyses.append(
        {"step": step, "passed": verdict.passed, "analysis": "health", "ready": state.ready, "total": state.total}
    )
    return Success(verdict)


async def _pause(rollout: Rollout, step: int) -> CanaryDecision:
    """Wait for a person to promote or abort the canary, or apply ``on_pause_timeout`` at the deadline."""
    tuning = rollout.tuning.canary
    deadline = rollout.clock.now() + timedelta(seconds=tuning.pause_timeout_seconds)
    position = Position(_attempt(rollout), step, paused=True, deadline=deadline, on_timeout=tuning.on_pause_timeout)
    then = tuning.on_pause_timeout
    await _publish(
        rollout, f"paused at {step}% until promoted (deadline {deadline:%Y-%m-%d %H:%M:%S} UTC, then {then})", position
    )
    started = rollout.clock.monotonic()
    decided = await canary_control.watch(rollout.control, rollout.clock, step, tuning.pause_timeout_seconds)
    if decided is None:
        move = Move.PROMOTE if tuning.on_pause_timeout == "promote" else Move.ABORT
        reason = f"nobody decided within {tuning.pause_timeout_seconds:g}s (on_pause_timeout: {then})"
        decided = await _settle(rollout, step, move, reason, record=True)
    else:
        rollout.decisions.append(decided.to_output(step))
    await rollout.note(f"paused at {step}% for {rollout.clock.monotonic() - started:g}s: {decided.describe()}")
    return decided


async def _settle(rollout: Rollout, step: int, move: Move, reason: str, *, record: bool = False) -> CanaryDecision:
    """The step's decision as the rollout leaves it: a person's, if one came first, else its own."""
    proposal = CanaryDecision(move, canary_control.AUTOMATIC, rollout.clock.now(), reason, automatic=True)
    decided = await rollout.control.settle(step, proposal) if rollout.control is not None else proposal
    if record or not decided.automatic:
        rollout.decisions.append(decided.to_output(step))
    return decided


def _aborted(step: int, decision: CanaryDecision) -> Failure:
    who = "" if decision.automatic else f" by {decision.by}"
    message = f"canary aborted at {step}%{who}" + (f": {decision.reason}" if decision.reason else "")
    return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"step": step, "aborted_by": decision.by}))


async def _publish(rollout: Rollout, message: str, position: Position) -> None:
    """Tell whoever watches the deploy task where the canary is, and so which step a decision is for."""
    if rollout.control is not None:
        await rollout.report(message, canary=position.to_outputs())
    else:
        await rollout.report(message)


def _attempt(rollout: Rollout) -> int:
    return rollout.control.attempt if rollout.control is not None else 0


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
