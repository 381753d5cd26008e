"""Recreate: stop what runs, start the new release, route all traffic to it once healthy.

The one strategy with downtime; the outcome reports how long the application had no
healthy version serving. Once the old release is stopped, a failure leaves nothing
serving: it says so (``steps.DISTURBED``), and the automatic rollback starts the
previous release again.
"""

from __future__ import annotations

from uno.core.result import Failure, Result, Success
from uno.deployment.strategies.steps import (
    Rollout,
    RolloutOutcome,
    create,
    disturbed,
    remove,
    route,
    survey,
    wait_healthy,
)


async def roll_out(rollout: Rollout) -> Result[RolloutOutcome]:
    surveyed = await survey(rollout)
    if isinstance(surveyed, Failure):
        return surveyed
    started = rollout.clock.monotonic()
    for version in surveyed.value.others:
        removed = await remove(rollout, version)
        if isinstance(removed, Failure):
            return removed
    stopped = bool(surveyed.value.others)
    created = await create(rollout, rollout.replicas, surveyed.value.own)
    if isinstance(created, Failure):
        return disturbed(created) if stopped else created
    healthy = await wait_healthy(rollout, created.value)
    if isinstance(healthy, Failure):
        return disturbed(healthy) if stopped else healthy  # nothing older is left to go back to
    routed = await route(rollout, {created.value.id: 100})
    if isinstance(routed, Failure):
        return disturbed(routed) if stopped else routed
    # something served before (an attempt that carries on counts from its own start)
    downtime = rollout.clock.monotonic() - started if surveyed.value.others or rollout.previous else None
    return Success(RolloutOutcome(created.value, (), tuple(rollout.steps), downtime))
