"""Withdrawing a canceled first deploy: its version sets removed, since nothing served before it.

A deploy canceled after it reached the platform is undone like a failed one: the release
before it is put back by an automatic rollback. A first deploy has no release before it,
so undoing it means removing what it started; this does that, on the platform its
configuration names, and says what it removed.
"""

from __future__ import annotations

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.ports.platforms import PlatformDrivers
from uno.deployment.strategies.tuning import Tuning, tuning_for


async def withdraw(platforms: PlatformDrivers, record: DeploymentResult) -> Result[list[str]]:
    """Remove every version set ``record`` created; the ids removed."""
    found = platforms.driver_for(record.config)
    if isinstance(found, Failure):
        return found
    driver, tuning = found.value, tuning_for(record.config)
    drain = (tuning.value if isinstance(tuning, Success) else Tuning()).drain_seconds  # as a strategy removes one
    listed = await driver.list_versions(record.app_name, record.environment.value)
    if isinstance(listed, Failure):
        return listed
    removed: list[str] = []
    for version in listed.value:
        if version.deployment_id != record.id.value:
            continue
        destroyed = await driver.destroy_version(version, drain_timeout=drain)
        if isinstance(destroyed, Failure):
            message = f"{version.id} could not be removed: {destroyed.error.message}"
            return Failure(ErrorDetails(destroyed.error.code, message, {"removed": removed}))
        removed.append(version.id)
    return Success(removed)
