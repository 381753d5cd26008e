"""Making, changing and deriving configurations: pure functions returning ``Result``.

Every function here validates the whole configuration it produces, so a configuration
that exists is a valid one. ``given_fields`` records the paths the user chose
(``resources.cpu_min``); the rest came from the environment profile, which is what lets
``derive`` give a configuration for another environment that keeps the user's choices
and takes the new environment's defaults for everything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import profiles, validation
from uno.deployment.domain.configs import SECTIONS, DeploymentConfig
from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.domain.ids import DeploymentId

# Fields a caller may set; the rest (id, timestamps, version, ...) belong to the system.
SETTABLE = frozenset(
    {
        "app_name",
        "app_version",
        "environment",
        "platform",
        "strategy",
        "description",
        *SECTIONS,
        "build_command",
        "auto_rollback",
        "custom_settings",
        "environment_variables",
        "secrets",
    }
)
# Dict-valued fields whose changes merge into the existing value (RFC 7396 merge patch).
MERGED = frozenset({*SECTIONS, "custom_settings", "environment_variables"})


def build(
    config_id: DeploymentId,
    given: dict[str, Any],
    now: datetime,
    *,
    derived_from: DeploymentId | None = None,
    rename: dict[str, str] | None = None,
) -> Result[DeploymentConfig]:
    """A new configuration from what the caller gave, completed from its environment's profile."""
    normalized = _normalize(given)
    match _environment(normalized.get("environment"), rename):
        case Failure() as failure:
            return failure
        case Success(environment):
            pass
    document = profiles.fill(environment, _without_nulls(normalized))
    document.update(
        id=config_id,
        created_at=now,
        updated_at=now,
        version=1,
        given_fields=frozenset(_paths(normalized)),
        derived_from=derived_from,
    )
    return _validate(document, rename)


def update(
    config: DeploymentConfig, changes: dict[str, Any], now: datetime, *, rename: dict[str, str] | None = None
) -> Result[DeploymentConfig]:
    """The configuration with ``changes`` applied: dicts merge, ``None`` removes, the rest replaces."""
    normalized = _normalize(changes)
    if "environment" in normalized:
        match _environment(normalized["environment"], rename):
            case Failure() as failure:
                return failure
            case Success(environment) if environment != config.environment:
                return Failure(
                    ErrorDetails.validation(
                        "environment", "cannot change; derive a configuration for the other environment instead"
                    )
                )
    document = config.model_dump()
    for name, value in normalized.items():
        document[name] = _merge(document.get(name), value) if name in MERGED else value
    document = profiles.fill(config.environment, _without_nulls(document))
    cleared = set(_cleared_paths(normalized))
    given = {path for path in config.given_fields if path not in cleared and path.partition(".")[0] not in cleared}
    given |= set(_paths(normalized))
    for section, value in normalized.items():
        if section in SECTIONS and isinstance(value, dict) and isinstance(document.get(section), dict):
            chosen = {path.partition(".")[2] for path in given if path.startswith(f"{section}.")}
            profiles.meet(section, document[section], chosen)
    document.update(updated_at=now, given_fields=frozenset(given))
    return _validate(document, rename)


def replace(
    config: DeploymentConfig, given: dict[str, Any], now: datetime, *, rename: dict[str, str] | None = None
) -> Result[DeploymentConfig]:
    """``config`` replaced by ``given`` whole: exactly what ``build`` makes of it (what it leaves out
    comes from the profile, nothing is kept from before), under the same id, creation time and version.

    The application and environment cannot change: another pair is another configuration.
    """
    for name, current in (("app_name", config.app_name), ("environment", config.environment.value)):
        value = given.get(name)
        chosen = value.value if isinstance(value, DeploymentEnvironment) else value
        if str(chosen).lower() != current.lower():
            return Failure(ErrorDetails.validation(name, f"cannot change ({current!r}): create or derive another"))
    match build(config.id, given, config.created_at, derived_from=config.derived_from, rename=rename):
        case Failure() as failure:
            return failure
        case Success(built):
            return Success(built.model_copy(update={"version": config.version, "updated_at": now}))


def derive(
    source: DeploymentConfig,
    environment: DeploymentEnvironment | str,
    changes: dict[str, Any],
    config_id: DeploymentId,
    now: datetime,
    *,
    rename: dict[str, str] | None = None,
) -> Result[DeploymentConfig]:
    """A new configuration for ``environment`` keeping what the user chose for ``source``."""
    given = given_values(source)
    for name, value in _normalize(changes).items():
        given[name] = _merge(given.get(name), value) if name in MERGED else value
    given["environment"] = environment
    return build(config_id, given, now, derived_from=source.id, rename=rename)


def given_values(config: DeploymentConfig) -> dict[str, Any]:
    """The values the user chose for ``config`` (not those its profile filled in)."""
    document = config.model_dump()
    chosen: dict[str, Any] = {}
    for path in sorted(config.given_fields):
        head, _, field = path.partition(".")
        if not field:  # a whole value; for a section, one given empty (its fields stay defaults)
            chosen[head] = {} if head in SECTIONS and document.get(head) is not None else document.get(head)
        elif isinstance(document.get(head), dict):
            chosen.setdefault(head, {})[field] = document[head].get(field)
    return chosen


def _environment(value: Any, rename: dict[str, str] | None) -> Result[DeploymentEnvironment]:
    if value is None:
        return Failure(ErrorDetails.validation("environment", "is required (dev, test, staging or production)"))
    try:
        return Success(DeploymentEnvironment(value.value if isinstance(value, DeploymentEnvironment) else str(value)))
    except ValueError:
        choices = ", ".join(member.value for member in DeploymentEnvironment)
        return Failure(ErrorDetails.validation("environment", f"{value!r} is not one of {choices}"))


def _validate(document: dict[str, Any], rename: dict[str, str] | None) -> Result[DeploymentConfig]:
    try:
        return Success(DeploymentConfig.model_validate(document))
    except ValidationError as error:
        return Failure(validation.details_from(error, rename))


def _normalize(values: dict[str, Any]) -> dict[str, Any]:
    """Section models become dicts of the fields their caller set."""
    return {
        name: value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value
        for name, value in values.items()
    }


def _paths(values: dict[str, Any]) -> list[str]:
    """The paths a caller set (a ``None`` is a removal, not a choice)."""
    paths: list[str] = []
    for name, value in values.items():
        if name in SECTIONS and isinstance(value, dict) and value:
            paths.extend(f"{name}.{field}" for field, item in value.items() if item is not None)
        elif name != "environment" and value is not None:
            paths.append(name)  # a whole value, or a section given empty (all its defaults)
    return paths


def _cleared_paths(values: dict[str, Any]) -> list[str]:
    """The paths a change removes with ``None``: they go back to the profile's defaults."""
    paths: list[str] = []
    for name, value in values.items():
        if value is None:
            paths.append(name)
        elif name in SECTIONS and isinstance(value, dict):
            paths.extend(f"{name}.{field}" for field, item in value.items() if item is None)
    return paths


def _merge(current: Any, change: Any) -> Any:
    if not isinstance(change, dict) or not isinstance(current, dict):
        return change
    merged = dict(current)
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _without_nulls(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if value is not None or name == "database"}
