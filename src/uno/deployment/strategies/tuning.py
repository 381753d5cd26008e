"""Strategy settings, read from a configuration's ``custom_settings``.

Each strategy has defaults that suit most web applications; a configuration tunes them
under its strategy's key, for example::

    custom_settings={"canary": {"steps": [5, 20, 50, 100], "analysis_seconds": 60}}

Keys: ``health_deadline_seconds`` and ``drain_seconds`` (all strategies), ``rolling``
(``max_surge``, ``max_unavailable``), ``blue_green`` (``keep_previous``), ``canary``
(``steps``, ``analysis`` (``traffic``, the default: error rate and latency against the stable
version; or ``health``: readiness alone, for platforms that measure no traffic),
``analysis_seconds``, ``max_error_rate``, ``max_error_rate_increase``, ``max_p99_ratio``,
``p99_slack_ms``, ``min_requests``, and the manual pauses: ``pause_after``,
``pause_timeout_seconds``, ``on_pause_timeout``). Bad values are a ``VALIDATION_ERROR`` naming the path.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig

KEYS = frozenset({"health_deadline_seconds", "drain_seconds", "rolling", "blue_green", "canary"})
"""The ``custom_settings`` keys the strategies read, valid on every platform."""


@dataclass(frozen=True, slots=True)
class CanaryTuning:
    steps: tuple[int, ...] = (10, 25, 50, 100)
    analysis_seconds: float = 30.0
    max_error_rate: float = 0.05
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 1.5
    p99_slack_ms: float = 25.0
    min_requests: int = 20
    pause_after: frozenset[int] = frozenset()  # steps after whose analysis a person must promote
    pause_timeout_seconds: float = 3600.0
    on_pause_timeout: str = "abort"  # or "promote"
    analysis: str = "traffic"  # or "health": judge each step on readiness alone (no traffic statistics)


@dataclass(frozen=True, slots=True)
class Tuning:
    health_deadline_seconds: float = 120.0
    drain_seconds: float = 30.0
    max_surge: int = 1
    max_unavailable: int = 0
    keep_previous: bool = True
    rollback_window_seconds: float = 3600.0
    canary: CanaryTuning = field(default_factory=CanaryTuning)


def _number(value: Any, path: str, low: float, high: float) -> Result[float]:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or not low <= value <= high:
        return Failure(ErrorDetails.validation(f"custom_settings.{path}", f"must be a number from {low:g} to {high:g}"))
    return Success(float(value))


def _section(settings: dict[str, Any], name: str, known: set[str]) -> Result[dict[str, Any]]:
    section = settings.get(name, {})
    if not isinstance(section, dict):
        return Failure(ErrorDetails.validation(f"custom_settings.{name}", "must be a mapping"))
    unknown = set(section) - known
    if unknown:
        first = sorted(unknown)[0]
        return Failure(ErrorDetails.validation(f"custom_settings.{name}.{first}", f"is not a {name} setting"))
    return Success(section)


def tuning_for(config: DeploymentConfig) -> Result[Tuning]:
    """The strategy settings of ``config``, checked, with defaults for what it leaves out."""
    settings = config.custom_settings
    numbers: dict[str, float] = {}
    for key, (low, high) in {"health_deadline_seconds": (1, 86_400), "drain_seconds": (0, 3_600)}.items():
        if key in settings:
            checked = _number(settings[key], key, low, high)
            if isinstance(checked, Failure):
                return checked
            numbers[key] = checked.value
    rolling = _section(settings, "rolling", {"max_surge", "max_unavailable"})
    blue_green = _section(settings, "blue_green", {"keep_previous", "rollback_window_seconds"})
    canary = _canary(settings)
    for part in (rolling, blue_green, canary):
        if isinstance(part, Failure):
            return part
    surge = _whole(rolling.value.get("max_surge", 1), "rolling.max_surge", 1)
    unavailable = _whole(rolling.value.get("max_unavailable", 0), "rolling.max_unavailable", 0)
    for part_ in (surge, unavailable):
        if isinstance(part_, Failure):
            return part_
    keep = blue_green.value.get("keep_previous", True)
    if not isinstance(keep, bool):
        return Failure(ErrorDetails.validation("custom_settings.blue_green.keep_previous", "must be true or false"))
    window = _number(
        blue_green.value.get("rollback_window_seconds", 3600.0), "blue_green.rollback_window_seconds", 0, 30 * 86_400
    )
    if isinstance(window, Failure):
        return window
    return Success(
        Tuning(
            health_deadline_seconds=numbers.get("health_deadline_seconds", 120.0),
            drain_seconds=numbers.get("drain_seconds", 30.0),
            max_surge=surge.value,
            max_unavailable=unavailable.value,
            keep_previous=keep,
            rollback_window_seconds=window.value,
            canary=canary.value,
        )
    )


def _whole(value: Any, path: str, low: int) -> Result[int]:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 1000:
        return Failure(ErrorDetails.validation(f"custom_settings.{path}", f"must be a whole number from {low} to 1000"))
    return Success(value)


def _canary(settings: dict[str, Any]) -> Result[CanaryTuning]:
    known = {
        "steps",
        "analysis",
        "analysis_seconds",
        "max_error_rate",
        "max_error_rate_increase",
        "max_p99_ratio",
        "p99_slack_ms",
        "min_requests",
        "pause_after",
        "pause_timeout_seconds",
        "on_pause_timeout",
    }
    section = _section(settings, "canary", known)
    if isinstance(section, Failure):
        return section
    values, defaults = section.value, CanaryTuning()
    steps = values.get("steps", list(defaults.steps))
    if not _rising_percentages(steps):
        return Failure(
            ErrorDetails.validation("custom_settings.canary.steps", "must be rising percentages ending at 100")
        )
    checked: dict[str, float] = {}
    limits = {
        "analysis_seconds": (0, 86_400),
        "max_error_rate": (0, 1),
        "max_error_rate_increase": (0, 1),
        "max_p99_ratio": (1, 1000),
        "p99_slack_ms": (0, 3_600_000),
        "min_requests": (0, 10**9),
        "pause_timeout_seconds": (1, 7 * 86_400),
    }
    for key, (low, high) in limits.items():
        if key in values:
            number = _number(values[key], f"canary.{key}", low, high)
            if isinstance(number, Failure):
                return number
            checked[key] = number.value
    if "min_requests" in values and not isinstance(values["min_requests"], int):
        return Failure(ErrorDetails.validation("custom_settings.canary.min_requests", "must be a whole number"))
    pauses = _pauses(values.get("pause_after", []), tuple(steps))
    if isinstance(pauses, Failure):
        return pauses
    on_timeout = values.get("on_pause_timeout", defaults.on_pause_timeout)
    if on_timeout not in ("abort", "promote"):
        rule = 'must be "abort" or "promote"'
        return Failure(ErrorDetails.validation("custom_settings.canary.on_pause_timeout", rule))
    judged_by = values.get("analysis", defaults.analysis)
    if judged_by not in ("traffic", "health"):
        rule = 'must be "traffic" (error rate and latency) or "health" (readiness alone)'
        return Failure(ErrorDetails.validation("custom_settings.canary.analysis", rule))
    return Success(
        CanaryTuning(
            steps=tuple(steps),
            analysis_seconds=checked.get("analysis_seconds", defaults.analysis_seconds),
            max_error_rate=checked.get("max_error_rate", defaults.max_error_rate),
            max_error_rate_increase=checked.get("max_error_rate_increase", defaults.max_error_rate_increase),
            max_p99_ratio=checked.get("max_p99_ratio", defaults.max_p99_ratio),
            p99_slack_ms=checked.get("p99_slack_ms", defaults.p99_slack_ms),
            min_requests=int(checked.get("min_requests", defaults.min_requests)),
            pause_after=pauses.value,
            pause_timeout_seconds=checked.get("pause_timeout_seconds", defaults.pause_timeout_seconds),
            on_pause_timeout=on_timeout,
            analysis=judged_by,
        )
    )


def _pauses(value: Any, steps: tuple[int, ...]) -> Result[frozenset[int]]:
    """The steps to pause after: ``"every"`` step below 100, or those listed (each one of ``steps``).

    After 100 there is nothing left to promote, so pausing there is refused rather than ignored.
    """
    below = [step for step in steps if step < 100]
    if value == "every":
        return Success(frozenset(below))
    choices = ", ".join(map(str, below)) or "none: the only step is 100"
    if not isinstance(value, list):
        rule = f'must be "every" or a list of the canary\'s steps below 100 ({choices})'
        return Failure(ErrorDetails.validation("custom_settings.canary.pause_after", rule))
    for index, step in enumerate(value):
        if isinstance(step, bool) or not isinstance(step, int) or step not in below:
            rule = f"{step!r} is not one of the canary's steps below 100 ({choices})"
            return Failure(ErrorDetails.validation(f"custom_settings.canary.pause_after[{index}]", rule))
    return Success(frozenset(value))


def _rising_percentages(steps: Any) -> bool:
    if not isinstance(steps, list) or not steps or steps[-1] != 100:
        return False
    whole = all(isinstance(step, int) and not isinstance(step, bool) and 0 < step <= 100 for step in steps)
    return whole and all(low < high for low, high in itertools.pairwise(steps))
