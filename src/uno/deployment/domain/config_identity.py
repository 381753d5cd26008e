"""What a configuration is: an application in an environment (issue 16).

A user means "hello in dev" by a configuration, never one of several: creating the pair
again with the same values is the same configuration (no new one), with other values it
is a ``CONFLICT`` naming the one there. Changing it is updating or replacing it, a new
version under the same id. The stores enforce the pair's uniqueness too, so two
concurrent creates cannot both win.
"""

from __future__ import annotations

from uno.core.errors import ErrorDetails
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.ids import DeploymentId

#: What two configurations may differ in and still say the same thing.
_BOOKKEEPING = frozenset({"id", "created_at", "updated_at", "version", "given_fields", "derived_from"})


def same_values(one: DeploymentConfig, other: DeploymentConfig) -> bool:
    """Whether both configure the same thing (ids, times, versions and the record of choices aside)."""
    return one.model_dump(exclude=set(_BOOKKEEPING)) == other.model_dump(exclude=set(_BOOKKEEPING))


def taken(config: DeploymentConfig, existing_id: DeploymentId | None) -> ErrorDetails:
    """The ``CONFLICT`` of creating ``config`` where its application already has one in its environment."""
    where = f"{config.app_name} in {config.environment.value}"
    if existing_id is None:
        return ErrorDetails.conflict(f"{where} already has a configuration")
    message = (
        f"{where} already has configuration {existing_id.value}, with other values: change it "
        f"(update_config, PUT or PATCH /api/deployments/configs/{existing_id.value}, "
        "uno-deploy config update) or replace it with uno-deploy deploy -f FILE"
    )
    return ErrorDetails.conflict(message, existing_id=existing_id.value)
