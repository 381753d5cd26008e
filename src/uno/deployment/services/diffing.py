"""What a deploy of a configuration would change on its platform, against what is live there.

The driver reads (``ports.platforms.LiveState``): each object a deploy would create,
change or remove, as the platform would hold it after the deploy and as it is now
(Kubernetes: a server-side dry run beside a read; ``local``: the agent's state). Here the
two sides are compared per object and field (``domain.differences``), with the values of
the configuration's ``secrets`` masked. Nothing changes anywhere.

A driver without ``LiveState`` cannot say: the answer is a ``PLATFORM_ERROR`` that says
so (``live_state: false`` in its context), as for a platform that cannot be reached.
``plan`` includes a diff when it can get one within ``PLAN_DIFF_SECONDS``, and says why
not otherwise (``note``).
"""

from __future__ import annotations

import asyncio

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import differences
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import LiveState, PlatformDrivers, Release

PLAN_DIFF_SECONDS = 10.0
"""How long ``plan`` waits for the platform to say what is live before it reports it unreachable."""

DIFFED_RELEASE = "(diff)"
"""The deployment id of the release a diff compares: no deploy is made."""


async def diff(config: DeploymentConfig, drivers: PlatformDrivers) -> Result[differences.Diff]:
    """Compare the objects a deploy of ``config`` would make with those live on its platform."""
    found = drivers.driver_for(config)
    if isinstance(found, Failure):
        return found
    driver = found.value
    checked = driver.check(config)
    if isinstance(checked, Failure):
        return checked
    if not isinstance(driver, LiveState):
        message = f"the {config.platform.value} driver cannot read what is live: diff is not available for it"
        return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"live_state": False}))
    read = await driver.live_objects(Release(DIFFED_RELEASE, config))
    if isinstance(read, Failure):
        return read
    secret_names = tuple(config.secrets)
    objects = tuple(
        differences.compare(
            item.kind,
            item.name,
            item.wanted,
            item.live,
            secret_names=secret_names,
            secret_paths=item.secret_paths,
            note=item.note,
        )
        for item in read.value
    )
    return Success(differences.Diff(config.app_name, config.environment.value, config.platform.value, objects))


async def for_plan(config: DeploymentConfig, drivers: PlatformDrivers) -> tuple[differences.Diff | None, str]:
    """The diff a plan shows, or None and why there is none (unreachable, no ``LiveState``, bad settings)."""
    try:
        async with asyncio.timeout(PLAN_DIFF_SECONDS):
            found = await diff(config, drivers)
    except TimeoutError:
        return None, f"what is live is not known: the platform did not answer within {PLAN_DIFF_SECONDS:g}s"
    if isinstance(found, Failure):
        return None, f"what is live is not known: {found.error.message}"
    return found.value, ""
