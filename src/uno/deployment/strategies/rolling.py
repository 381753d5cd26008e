"""Rolling: replace the serving version in batches, never below capacity by more than allowed.

Each round adds up to ``max_surge`` new replicas, waits for them to be healthy, moves
traffic in proportion to healthy replicas, then removes as many old replicas (plus up to
``max_unavailable`` more). A new batch that never becomes healthy puts all traffic back
on the old version, which was never scaled below what was still serving; once old
replicas were removed, the failure says so (``steps.DISTURBED``), and the automatic
rollback brings the old version back to its size.

A platform that cannot weigh traffic (``Capabilities.traffic_weights`` false: Heroku, App
Platform) cannot give a batch its share, and runs one release at a time: rolling is then
the platform's own replacement (``_replaced``), in one batch.
"""

from __future__ import annotations

import math

from uno.core.result import Failure, Result, Success
from uno.deployment.ports.platforms import VersionSet
from uno.deployment.strategies.steps import (
    Rollout,
    RolloutOutcome,
    abandon,
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
    if not rollout.driver.capabilities.traffic_weights:
        return await _replaced(rollout, surveyed.value.before, surveyed.value.others, surveyed.value.own)
    old = surveyed.value.before  # at their sizes now: an interrupted attempt may have shrunk them
    surge, target = max(1, rollout.tuning.max_surge), rollout.replicas
    new = await create(rollout, min(surge, target), surveyed.value.own)
    if isinstance(new, Failure):
        return new
    current, remaining = new.value, {version.id: version for version in old}
    shrunk_any = False

    async def give_up(reason: Failure) -> Failure:
        abandoned = await abandon(rollout, current, list(remaining.values()), reason.error)
        return disturbed(abandoned) if shrunk_any else abandoned

    while True:
        healthy = await wait_healthy(rollout, current)
        if isinstance(healthy, Failure):
            return await give_up(healthy)
        routed = await route(rollout, _weights(current, list(remaining.values())))
        if isinstance(routed, Failure):
            return await give_up(routed)
        if current.replicas >= target:
            break
        shrunk = await _shrink(rollout, remaining, surge + rollout.tuning.max_unavailable)
        shrunk_any = True
        if isinstance(shrunk, Failure):
            return await give_up(shrunk)
        grown = await rollout.driver.scale_version(current, min(target, current.replicas + surge))
        if isinstance(grown, Failure):
            return await give_up(grown)
        current = grown.value
        await rollout.note(f"scaled {current.id} to {current.replicas}")
    routed = await route(rollout, {current.id: 100})
    if isinstance(routed, Failure):
        return routed
    for version in surveyed.value.others:
        if version.id in remaining or version not in old:  # the old ones _shrink removed are gone already
            await remove(rollout, version)
    return Success(RolloutOutcome(current, (), tuple(rollout.steps)))


async def _replaced(
    rollout: Rollout, old: list[VersionSet], others: list[VersionSet], own: VersionSet | None
) -> Result[RolloutOutcome]:
    """The platform replaces the serving release itself (its rolling or preboot mechanism): one batch."""
    name = rollout.driver.name
    await rollout.note(
        f"the {name} platform cannot weigh traffic per batch: it replaces the release itself, in one batch"
    )
    new = await create(rollout, rollout.replicas, own)
    if isinstance(new, Failure):
        return new
    healthy = await wait_healthy(rollout, new.value)
    if isinstance(healthy, Failure):
        return await abandon(rollout, new.value, old, healthy.error)
    routed = await route(rollout, {new.value.id: 100})
    if isinstance(routed, Failure):
        return await abandon(rollout, new.value, old, routed.error)
    for version in others:
        await remove(rollout, version)
    return Success(RolloutOutcome(new.value, (), tuple(rollout.steps)))


def _weights(new: VersionSet, old: list[VersionSet]) -> dict[str, int]:
    old_replicas = sum(version.replicas for version in old)
    if not old_replicas:
        return {new.id: 100}
    share = math.floor(100 * new.replicas / (new.replicas + old_replicas))
    weights = {new.id: share}
    for version in old:
        weights[version.id] = round((100 - share) * version.replicas / old_replicas)
    return weights


async def _shrink(rollout: Rollout, remaining: dict[str, VersionSet], count: int) -> Result[None]:
    """Take ``count`` replicas away from the old version sets, removing the ones that reach 0."""
    for version_id, version in list(remaining.items()):
        if count <= 0:
            break
        keep = max(0, version.replicas - count)
        count -= version.replicas - keep
        if keep == 0:
            removed = await remove(rollout, version)
            if isinstance(removed, Failure):
                return removed
            del remaining[version_id]
        else:
            scaled = await rollout.driver.scale_version(version, keep)
            if isinstance(scaled, Failure):
                return scaled
            remaining[version_id] = scaled.value
            await rollout.note(f"scaled {version.id} to {keep}")
    return Success(None)
