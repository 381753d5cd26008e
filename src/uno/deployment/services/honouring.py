"""The one check of a configuration against what its platform honours, before anything changes.

Every driver declares which settings it honours (``PlatformDrivers.declaration_for``),
the engine declares those it honours on every platform (``engine.honoured``), and
``domain.settings_catalogue`` says when a configuration asks for a setting. This module
puts them together, for ``config validate``, ``plan`` and ``deploy`` alike:

- ``not_honoured``: each setting the configuration asks for and the platform does not
  honour, each enabled test suite with no command (the pipeline skips it), and
  ``security.scan_images`` when no scanner can be chosen (``engine.scanning``), as
  ``{"field": path, "message": ...}``; reported everywhere, refused under ``strict``;
- ``unknown_custom_settings``: ``custom_settings`` keys neither the platform nor a strategy
  reads (a typo the platform would ignore), always a ``VALIDATION_ERROR``;
- ``deprecated``: ``custom_settings`` keys still honoured but replaced by a setting: reported
  with the setting to use instead, never refused (not even under strict).

Engine settings (``engine.honoured``) are honoured on every platform, so only the
platform-side ones (``settings_catalogue.PLATFORM``) are compared here.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure
from uno.deployment.domain import settings_catalogue
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.engine import scanning
from uno.deployment.ports.platforms import PlatformDrivers
from uno.deployment.strategies import tuning

Problem = dict[str, str]

DEFAULT_STRICT_ENVIRONMENTS = frozenset({DeploymentEnvironment.PRODUCTION.value})


def not_honoured(config: DeploymentConfig, drivers: PlatformDrivers) -> list[Problem]:
    """The settings ``config`` asks for that nothing would act on, by field path."""
    platform = config.platform.value
    declared = drivers.declaration_for(platform).settings
    found: list[Problem] = []
    for path in settings_catalogue.active(config):
        support = declared.get(path)
        if support is None:
            found.append({"field": path, "message": f"not honoured on {platform}: its driver does not declare it"})
        elif not support.honoured:
            found.append({"field": path, "message": f"not honoured on {platform}: {support.note}"})
    for suite in settings_catalogue.commandless_suites(config):
        message = f"enabled but testing.{suite}_test_command is not set: the {suite} tests are skipped"
        found.append({"field": f"testing.run_{suite}_tests", "message": message})
    if config.security.scan_images and isinstance(scanner := scanning.scanner_for(config, drivers), Failure):
        found.append({"field": "security.scan_images", "message": scanner.error.message})
    return found


def unknown_custom_settings(config: DeploymentConfig, drivers: PlatformDrivers) -> list[Problem]:
    """``custom_settings`` keys that neither the platform's driver nor a strategy reads."""
    platform = config.platform.value
    keys = drivers.declaration_for(platform).custom_settings
    if keys is None:
        return []  # a driver that does not list its keys reads what it likes
    known = keys | tuning.KEYS
    return [
        {"field": f"custom_settings.{key}", "message": _unknown(key, known, platform)}
        for key in sorted(config.custom_settings)
        if key not in known
    ]


def deprecated(config: DeploymentConfig, drivers: PlatformDrivers) -> list[Problem]:
    """``custom_settings`` keys the platform still reads in place of the setting that replaced them."""
    replaced = drivers.declaration_for(config.platform.value).deprecated
    return [
        {
            "field": f"custom_settings.{key}",
            "message": f"deprecated: set {replaced[key]} instead (while this key is set, it is used in its place)",
        }
        for key in sorted(config.custom_settings)
        if key in replaced
    ]


def _unknown(key: str, known: Collection[str], platform: str) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
    return f"is not a setting of the {platform} platform ({hint})"


def is_strict(config: DeploymentConfig, strict: bool | None, environments: Collection[str]) -> bool:
    """``strict`` as given, else whether the configuration's environment is one of the strict ones."""
    return strict if strict is not None else config.environment.value in environments


def refusal(problems: list[Problem], *, strict: bool) -> ErrorDetails:
    """The ``VALIDATION_ERROR`` of a deploy refused before anything changed, listing every field."""
    fields = ", ".join(problem["field"] for problem in problems)
    if strict:
        message = (
            f"strict mode: {len(problems)} setting(s) would not be honoured: {fields}; nothing was deployed "
            "(change them, or deploy with strict off: --no-strict, strict=False)"
        )
    elif len(problems) == 1:
        message = f"{fields}: {problems[0]['message']}; nothing was deployed"
    else:
        message = f"{len(problems)} unknown setting(s): {fields}; nothing was deployed"
    context: dict[str, object] = {"field": problems[0]["field"], "errors": problems}
    if strict:
        context["strict"] = True
    return ErrorDetails(ErrorCode.VALIDATION_ERROR, message, context)
