"""Recreate: stop what runs, start the new release, route all traffic to it once healthy.

The one strategy with downtime; the outcome reports how long the application had no
healthy version serving.
"""

from __future__ import annotations

from uno.core.result import Failure, Result, Success
from uno.deployment.strategies.steps import (
    Rollout,
    RolloutOutcome,
    create,
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
    created = await create(rollout, rollout.replicas, surveyed.value.own)
    if isinstance(created, Failure):
        return created
    healthy = await wait_healthy(rollout, created.value)
    if isinstance(healthy, Failure):
        return healthy  # nothing older is left to go back to: a rollback starts it again
    routed = await route(rollout, {created.value.id: 100})
    if isinstance(routed, Failure):
        return routed
    # something served before (an attempt that carries on counts from its own start)
    downtime = rollout.clock.monotonic() - started if surveyed.value.others or rollout.previous else None
    return Success(RolloutOutcome(created.value, (), tuple(rollout.steps), downtime))
