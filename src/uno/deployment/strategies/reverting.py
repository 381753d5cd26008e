"""Rolling back: put an earlier release back in front of the traffic.

If the earlier release's version set still runs (blue-green and canary keep it warm),
rolling back is a traffic switch: no restart. Otherwise the release is started again,
waited on and switched to. Either way the version sets of later releases are removed.
"""

from __future__ import annotations

from uno.core.result import Failure, Result, Success
from uno.deployment.strategies.steps import (
    Rollout,
    RolloutOutcome,
    create,
    current_versions,
    remove,
    route,
    wait_healthy,
)


async def roll_back(rollout: Rollout) -> Result[RolloutOutcome]:
    versions = await current_versions(rollout)
    if isinstance(versions, Failure):
        return versions
    warm = [version for version in versions.value if version.deployment_id == rollout.release.deployment_id]
    if warm:
        target = warm[0]
        await rollout.note(f"{target.id} is still running: switching traffic back")
        if target.replicas < rollout.replicas:
            scaled = await rollout.driver.scale_version(target, rollout.replicas)
            if isinstance(scaled, Failure):
                return scaled
            target = scaled.value
    else:
        created = await create(rollout, rollout.replicas)
        if isinstance(created, Failure):
            return created
        target = created.value
    healthy = await wait_healthy(rollout, target)
    if isinstance(healthy, Failure):
        return healthy
    routed = await route(rollout, {target.id: 100})
    if isinstance(routed, Failure):
        return routed
    for version in versions.value:
        if version.id != target.id:
            await remove(rollout, version)
    return Success(RolloutOutcome(target, (), tuple(rollout.steps)))
