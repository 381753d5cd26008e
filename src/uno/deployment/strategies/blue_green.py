"""Blue-green: start green beside blue, wait until it is healthy, switch all traffic at once.

Blue keeps running (at no traffic) for a fast rollback, which is a traffic switch back,
not a redeploy; older version sets are removed. If green never becomes healthy it is
removed and blue keeps serving, untouched.
"""

from __future__ import annotations

from uno.core.result import Failure, Result, Success
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
    surveyed = await survey(rollout)
    if isinstance(surveyed, Failure):
        return surveyed
    blue = surveyed.value.before
    green = await create(rollout, rollout.replicas, surveyed.value.own)
    if isinstance(green, Failure):
        return green
    healthy = await wait_healthy(rollout, green.value)
    if isinstance(healthy, Failure):
        return await abandon(rollout, green.value, blue, healthy.error)
    routed = await route(rollout, {green.value.id: 100})
    if isinstance(routed, Failure):
        return await abandon(rollout, green.value, blue, routed.error)
    for version in surveyed.value.others:
        if version not in blue:
            await remove(rollout, version)
    kept = await keep_warm(rollout, blue)
    return Success(RolloutOutcome(green.value, kept, tuple(rollout.steps)))
