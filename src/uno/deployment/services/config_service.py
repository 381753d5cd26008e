"""Managing deployment configurations: create, read, list, update, delete, derive."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import config_identity, configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentPlatform
from uno.deployment.domain.ids import DeploymentId, new_config_id
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.repositories import (
    MAX_PAGE,
    ConfigQuery,
    DeploymentConfigRepository,
    DeploymentQuery,
    DeploymentResultRepository,
    StorageError,
)
from uno.deployment.services import inputs

# The Python API's keyword names for the configuration's sections (the spec's names).
KEYWORDS = {
    "database_config": "database",
    "resource_requirements": "resources",
    "network_config": "network",
    "security_config": "security",
    "monitoring_config": "monitoring",
    "testing_config": "testing",
}
SECTION_KEYWORDS = {section: keyword for keyword, section in KEYWORDS.items()}


def to_model_names(changes: dict[str, Any]) -> Result[tuple[dict[str, Any], dict[str, str]]]:
    """Map keyword names to the model's; return the changes and how to name fields back."""
    mapped: dict[str, Any] = {}
    rename: dict[str, str] = {}
    for name, value in changes.items():
        model_name = KEYWORDS.get(name, name)
        if model_name not in configuring.SETTABLE:
            settable = sorted({SECTION_KEYWORDS.get(field, field) for field in configuring.SETTABLE})
            return Failure(
                ErrorDetails.validation(name, f"is not a setting you can change (settable: {', '.join(settable)})")
            )
        if model_name in mapped:
            return Failure(ErrorDetails.validation(name, "is given twice (under two names)"))
        mapped[model_name] = value
        if name != model_name:
            rename[model_name] = name
    return Success((mapped, rename))


class Revision(Protocol):
    """``configuring.update`` (merge) or ``configuring.replace`` (whole): a stored configuration's next version."""

    def __call__(
        self, config: DeploymentConfig, given: dict[str, Any], now: datetime, /, *, rename: dict[str, str] | None = None
    ) -> Result[DeploymentConfig]: ...


class DeploymentConfigService:
    def __init__(
        self, configs: DeploymentConfigRepository, deployments: DeploymentResultRepository, clock: Clock
    ) -> None:
        self._configs = configs
        self._deployments = deployments
        self._clock = clock

    async def create_config(
        self,
        app_name: str,
        app_version: str,
        environment: DeploymentEnvironment | str,
        platform: DeploymentPlatform | str = DeploymentPlatform.LOCAL,
        strategy: Any = None,
        database_config: Any = None,
        resource_requirements: Any = None,
        network_config: Any = None,
        security_config: Any = None,
        monitoring_config: Any = None,
        testing_config: Any = None,
        custom_settings: dict[str, Any] | None = None,
        environment_variables: dict[str, str] | None = None,
        secrets: list[str] | None = None,
        build_command: list[str] | None = None,
        auto_rollback: bool | None = None,
        description: str | None = None,
    ) -> Result[DeploymentConfig]:
        """Create a configuration; what is not given comes from the environment's profile."""
        given = {
            name: value
            for name, value in {
                "app_name": app_name,
                "app_version": app_version,
                "environment": environment,
                "platform": platform,
                "strategy": strategy,
                "database_config": database_config,
                "resource_requirements": resource_requirements,
                "network_config": network_config,
                "security_config": security_config,
                "monitoring_config": monitoring_config,
                "testing_config": testing_config,
                "custom_settings": custom_settings,
                "environment_variables": environment_variables,
                "secrets": secrets,
                "build_command": build_command,
                "auto_rollback": auto_rollback,
                "description": description,
            }.items()
            if value is not None
        }
        return await self.create_config_from(given)

    async def create_config_from(self, values: dict[str, Any]) -> Result[DeploymentConfig]:
        """``create_config`` from a mapping, with keyword or section names (``resources``)."""
        created = await self.create_or_find(values)
        return created if isinstance(created, Failure) else Success(created.value[0])

    async def create_or_find(self, values: dict[str, Any]) -> Result[tuple[DeploymentConfig, bool]]:
        """``create_config_from``, and whether it created the configuration (False: it was there).

        An application has one configuration per environment (``config_identity``): when the
        pair has one with the same values, that one is the answer (nothing new is stored);
        with other values, a ``CONFLICT`` naming it (``context["existing_id"]``).
        """
        match to_model_names(values):
            case Failure() as failure:
                return failure
            case Success((given, rename)):
                pass
        match configuring.build(new_config_id(), given, self._clock.now(), rename=rename):
            case Failure() as failure:
                return failure
            case Success(config):
                return await self._add_new(config)

    async def _add_new(self, config: DeploymentConfig) -> Result[tuple[DeploymentConfig, bool]]:
        """Store ``config`` unless its application has one in its environment: the same one, or a conflict."""
        query = ConfigQuery(app_name=config.app_name, environment=config.environment, limit=1)
        try:
            there = await self._configs.find(query)
        except StorageError as failed:  # a Result, as the add below would be
            return Failure(failed.error)
        for existing in there:
            if config_identity.same_values(existing, config):
                return Success((existing, False))
            return Failure(config_identity.taken(config, existing.id))
        added = await self._configs.add(config)
        return added if isinstance(added, Failure) else Success((added.value, True))

    async def get_config(self, config_id: DeploymentId | str) -> Result[DeploymentConfig]:
        match inputs.deployment_id(config_id, "config_id"):
            case Failure() as failure:
                return failure
            case Success(identifier):
                config = await self._configs.get(identifier)
        return Success(config) if config else Failure(ErrorDetails.not_found("configuration", identifier.value))

    async def list_configs(
        self,
        app_name: str | None = None,
        environment: DeploymentEnvironment | str | None = None,
        platform: DeploymentPlatform | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Result[list[DeploymentConfig]]:
        """Configurations matching every filter given, newest first."""
        chosen_environment = inputs.optional_enum(DeploymentEnvironment, environment, "environment")
        chosen_platform = inputs.optional_enum(DeploymentPlatform, platform, "platform")
        chosen_name = inputs.optional_text(app_name, "app_name")
        if problem := inputs.first_failure(
            inputs.page(limit, offset), chosen_environment, chosen_platform, chosen_name
        ):
            return problem
        query = ConfigQuery(
            app_name=chosen_name.value,
            environment=chosen_environment.value,
            platform=chosen_platform.value,
            limit=limit,
            offset=offset,
        )
        return Success(await self._configs.find(query))

    async def update_config(
        self, config_id: DeploymentId | str, *, expected_version: int | None = None, **changes: Any
    ) -> Result[DeploymentConfig]:
        """Apply ``changes`` (``create_config``'s keyword names): nested dicts merge, ``None`` removes.

        With ``expected_version``, the update only applies to that version (``CONFLICT`` otherwise).
        """
        if not changes:
            return Failure(ErrorDetails.validation("", "no changes given"))
        return await self._revise(config_id, changes, expected_version, configuring.update)

    async def replace_config(
        self, config_id: DeploymentId | str, values: dict[str, Any], *, expected_version: int | None = None
    ) -> Result[DeploymentConfig]:
        """Replace a configuration by ``values`` (``create_config_from``'s): the new version is what creating
        from them would make, what they leave out back to the profile's default, nothing merged.

        Its app and environment stay (a ``VALIDATION_ERROR`` when ``values`` name others);
        with ``expected_version``, only that version is replaced (``CONFLICT`` otherwise).
        """
        return await self._revise(config_id, values, expected_version, configuring.replace)

    async def _revise(
        self, config_id: DeploymentId | str, values: dict[str, Any], expected_version: int | None, revise: Revision
    ) -> Result[DeploymentConfig]:
        """The stored configuration, checked against ``expected_version``, ``revise``d by ``values`` and saved."""
        found, named = await self.get_config(config_id), to_model_names(values)
        if problem := inputs.first_failure(found, named):
            return problem
        current, (given, rename) = found.value, named.value
        if expected_version is not None and expected_version != current.version:
            return Failure(_stale(current, expected_version))
        match revise(current, given, self._clock.now(), rename=rename):
            case Failure() as failure:
                return failure
            case Success(revised):
                return await self._configs.save(revised)

    async def delete_config(self, config_id: DeploymentId | str) -> Result[DeploymentId]:
        """Delete a configuration; refused while a deployment of it is running."""
        match await self.get_config(config_id):
            case Failure() as failure:
                return failure
            case Success(config):
                pass
        for record in await self._deployments.find(DeploymentQuery(config_id=config.id, limit=MAX_PAGE)):
            if record.status.is_active:
                return Failure(
                    ErrorDetails(
                        ErrorCode.INVALID_STATE,
                        f"configuration {config.id.value} is in use by deployment {record.id.value} "
                        f"({record.status.value}); wait for it or cancel it first",
                        {"deployment_id": record.id.value},
                    )
                )
        if not await self._configs.delete(config.id):
            return Failure(ErrorDetails.not_found("configuration", config.id.value))
        return Success(config.id)

    async def derive_config(
        self, config_id: DeploymentId | str, environment: DeploymentEnvironment | str, **changes: Any
    ) -> Result[DeploymentConfig]:
        """A new configuration for another environment: your choices kept, its profile for the rest.

        As ``create_config``: when the application has one there already, the same values
        return it, other values are a ``CONFLICT`` naming it.
        """
        found, named = await self.get_config(config_id), to_model_names(changes)
        if problem := inputs.first_failure(found, named):
            return problem
        source, (mapped, rename) = found.value, named.value
        match configuring.derive(source, environment, mapped, new_config_id(), self._clock.now(), rename=rename):
            case Failure() as failure:
                return failure
            case Success(config):
                added = await self._add_new(config)
        return added if isinstance(added, Failure) else Success(added.value[0])


def _stale(current: DeploymentConfig, expected_version: int) -> ErrorDetails:
    return ErrorDetails.conflict(
        f"configuration {current.id.value} is at version {current.version}, not {expected_version}",
        version=current.version,
        expected_version=expected_version,
    )
