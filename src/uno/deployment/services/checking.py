"""Checking a configuration before it is stored: every problem at once, each with its field path.

``create_config`` stops at the first kind of problem (an unknown setting, then the
environment, then the fields); a person fixing a file wants them all in one go. This
module gathers them: unknown settings, every field the model refuses, the strategy's
settings (``tuning``), unknown ``custom_settings`` keys and the platform driver's own
check of its settings. ``warnings`` lists the settings the platform would not honour
(``honouring``) and ``deprecations`` the deprecated keys it uses. Nothing is stored and
nothing outside is touched.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Success
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.ids import new_config_id
from uno.deployment.ports.platforms import PlatformDrivers
from uno.deployment.services import honouring
from uno.deployment.services.config_service import KEYWORDS, to_model_names
from uno.deployment.services.planning import platform_objects, schedule_for

Problem = dict[str, str]
"""``{"field": "resources.cpu_min", "message": "..."}``; the field is "" for the whole document."""

_STAND_IN_ENVIRONMENT = "dev"
"""Checked with when the environment itself is wrong, so the other fields are still checked."""


def unknown(name: str) -> str:
    """What to say of a setting that does not exist: the one meant, when it looks like one."""
    names = sorted(configuring.SETTABLE | set(KEYWORDS))
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"is not a setting (did you mean {close[0]}?)"
    return f"is not a setting (settable: {', '.join(sorted(configuring.SETTABLE))})"


async def problems(
    values: dict[str, Any], drivers: PlatformDrivers | None, now: datetime, *, deployable: bool = True
) -> list[Problem]:
    """Every problem of a configuration given as ``create_config_from`` takes it (keyword or section names).

    ``deployable``: also what a deploy would refuse (the strategy's and the platform's
    settings), beyond what storing the configuration refuses.
    """
    found: list[Problem] = []
    known: dict[str, Any] = {}
    rename: dict[str, str] = {}
    for name, value in values.items():
        model_name = KEYWORDS.get(name, name)
        if model_name not in configuring.SETTABLE:
            found.append({"field": name, "message": unknown(name)})
        elif model_name in known:
            found.append({"field": name, "message": f"is given twice (also as {rename.get(model_name, model_name)})"})
        else:
            known[model_name] = value
            rename[model_name] = name
    config, model_problems = _built(known, rename, now)
    found += model_problems
    if config is not None and deployable:
        found += schedule_for(config)[1]
        if drivers is not None:
            found += (await platform_objects(config, drivers))[1]
            found += honouring.unknown_custom_settings(config, drivers)
    return found


def warnings(values: dict[str, Any], drivers: PlatformDrivers, now: datetime) -> list[Problem]:
    """The settings of a valid configuration (as ``problems`` takes it) its platform would not honour."""
    config = _valid(values, now)
    return honouring.not_honoured(config, drivers) if config is not None else []


def deprecations(values: dict[str, Any], drivers: PlatformDrivers, now: datetime) -> list[Problem]:
    """The deprecated keys a valid configuration (as ``problems`` takes it) uses, with what replaces them."""
    config = _valid(values, now)
    return honouring.deprecated(config, drivers) if config is not None else []


def _valid(values: dict[str, Any], now: datetime) -> DeploymentConfig | None:
    named = to_model_names(values)
    if isinstance(named, Failure):
        return None
    given, rename = named.value
    built = configuring.build(new_config_id(), given, now, rename=rename)
    return built.value if isinstance(built, Success) else None


def _built(
    known: dict[str, Any], rename: dict[str, str], now: datetime
) -> tuple[DeploymentConfig | None, list[Problem]]:
    renamed = {model: given for model, given in rename.items() if model != given}
    built = configuring.build(new_config_id(), known, now, rename=renamed)
    if isinstance(built, Success):
        return built.value, []
    found = listed(built.error)
    if built.error.context.get("field") == "environment" and "errors" not in built.error.context:
        again = configuring.build(new_config_id(), {**known, "environment": _STAND_IN_ENVIRONMENT}, now, rename=renamed)
        if isinstance(again, Failure):
            found += listed(again.error)
    return None, found


def listed(error: ErrorDetails) -> list[Problem]:
    """The problems of a ``VALIDATION_ERROR``: all those it lists, or its one."""
    items = error.context.get("errors")
    if isinstance(items, list) and items:
        return [{"field": str(item["field"]), "message": str(item["message"])} for item in items]
    field_path = str(error.context.get("field", ""))
    return [{"field": field_path, "message": error.message.removeprefix(f"{field_path}: ")}]
