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
    current_versions,
    keep_warm,
    remove,
    route,
    serving,
    wait_healthy,
)


async def roll_out(rollout: Rollout) -> Result[RolloutOutcome]:
    versions = await current_versions(rollout)
    if isinstance(versions, Failure):
        return versions
    blue = serving(versions.value)
    green = await create(rollout, rollout.replicas)
    if isinstance(green, Failure):
        return green
    healthy = await wait_healthy(rollout, green.value)
    if isinstance(healthy, Failure):
        return await abandon(rollout, green.value, blue, healthy.error)
    routed = await route(rollout, {green.value.id: 100})
    if isinstance(routed, Failure):
        return await abandon(rollout, green.value, blue, routed.error)
    for version in versions.value:
        if version not in blue:
            await remove(rollout, version)
    kept = await keep_warm(rollout, blue)
    return Success(RolloutOutcome(green.value, kept, tuple(rollout.steps)))
