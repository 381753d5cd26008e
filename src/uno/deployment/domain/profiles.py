"""Environment profiles: the defaults each environment gives a new configuration.

What the caller gave always wins; the profile fills everything else. When the caller
gives one side of a range (say ``cpu_min``) and the profile's other side would make the
range empty, the profile's side moves to meet the caller's value instead of failing on
a value the caller never wrote.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from uno.deployment.domain import quantities
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentStrategy

_BASIC_SECURITY = {
    "enable_network_policy": False,
    "scan_images": False,
    "run_as_non_root": False,
    "read_only_root_filesystem": False,
}
_ENHANCED_SECURITY = {
    "enable_network_policy": True,
    "scan_images": True,
    "run_as_non_root": True,
    "read_only_root_filesystem": True,
}


@dataclass(frozen=True)
class EnvironmentProfile:
    environment: DeploymentEnvironment
    strategy: DeploymentStrategy
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)


PROFILES: dict[DeploymentEnvironment, EnvironmentProfile] = {
    DeploymentEnvironment.DEV: EnvironmentProfile(
        environment=DeploymentEnvironment.DEV,
        strategy=DeploymentStrategy.RECREATE,
        sections={
            "resources": {
                "cpu_min": "100m",
                "cpu_max": "250m",
                "memory_min": "128Mi",
                "memory_max": "256Mi",
                "replicas_min": 1,
                "replicas_max": 1,
                "auto_scaling": False,
                "auto_scaling_cpu_threshold": 80,
            },
            "security": _BASIC_SECURITY,
            "monitoring": {
                "enable_logging": True,
                "enable_metrics": False,
                "enable_tracing": False,
                "enable_alerts": False,
                "log_level": "DEBUG",
            },
            "testing": {
                "run_unit_tests": True,
                "run_integration_tests": False,
                "run_performance_tests": False,
                "run_security_tests": False,
            },
        },
        database={"connection_pool_min": 1, "connection_pool_max": 5},
    ),
    DeploymentEnvironment.TEST: EnvironmentProfile(
        environment=DeploymentEnvironment.TEST,
        strategy=DeploymentStrategy.ROLLING,
        sections={
            "resources": {
                "cpu_min": "100m",
                "cpu_max": "500m",
                "memory_min": "256Mi",
                "memory_max": "512Mi",
                "replicas_min": 1,
                "replicas_max": 2,
                "auto_scaling": False,
                "auto_scaling_cpu_threshold": 80,
            },
            "security": {**_BASIC_SECURITY, "scan_images": True},
            "monitoring": {
                "enable_logging": True,
                "enable_metrics": True,
                "enable_tracing": False,
                "enable_alerts": False,
                "log_level": "INFO",
            },
            "testing": {
                "run_unit_tests": True,
                "run_integration_tests": True,
                "run_performance_tests": False,
                "run_security_tests": False,
            },
        },
        database={"connection_pool_min": 1, "connection_pool_max": 10},
    ),
    DeploymentEnvironment.STAGING: EnvironmentProfile(
        environment=DeploymentEnvironment.STAGING,
        strategy=DeploymentStrategy.BLUE_GREEN,
        sections={
            "resources": {
                "cpu_min": "250m",
                "cpu_max": "1",
                "memory_min": "256Mi",
                "memory_max": "1Gi",
                "replicas_min": 2,
                "replicas_max": 4,
                "auto_scaling": True,
                "auto_scaling_cpu_threshold": 75,
            },
            "security": _ENHANCED_SECURITY,
            "monitoring": {
                "enable_logging": True,
                "enable_metrics": True,
                "enable_tracing": True,
                "enable_alerts": True,
                "log_level": "INFO",
            },
            "testing": {
                "run_unit_tests": True,
                "run_integration_tests": True,
                "run_performance_tests": False,
                "run_security_tests": True,
            },
        },
        database={"backup_before_deploy": True, "connection_pool_min": 2, "connection_pool_max": 10},
    ),
    DeploymentEnvironment.PRODUCTION: EnvironmentProfile(
        environment=DeploymentEnvironment.PRODUCTION,
        strategy=DeploymentStrategy.BLUE_GREEN,
        sections={
            "resources": {
                "cpu_min": "500m",
                "cpu_max": "2",
                "memory_min": "512Mi",
                "memory_max": "2Gi",
                "replicas_min": 2,
                "replicas_max": 10,
                "auto_scaling": True,
                "auto_scaling_cpu_threshold": 70,
            },
            "security": _ENHANCED_SECURITY,
            "monitoring": {
                "enable_logging": True,
                "enable_metrics": True,
                "enable_tracing": True,
                "enable_alerts": True,
                "log_level": "INFO",
            },
            "testing": {
                "run_unit_tests": True,
                "run_integration_tests": True,
                "run_performance_tests": True,
                "run_security_tests": True,
            },
        },
        database={"backup_before_deploy": True, "connection_pool_min": 2, "connection_pool_max": 20},
    ),
}

# (section, min field, max field, how to compare their values)
_RANGES: tuple[tuple[str, str, str, Any], ...] = (
    ("resources", "cpu_min", "cpu_max", quantities.parse_cpu),
    ("resources", "memory_min", "memory_max", quantities.parse_memory),
    ("resources", "replicas_min", "replicas_max", int),
    ("database", "connection_pool_min", "connection_pool_max", int),
)


def profile_for(environment: DeploymentEnvironment) -> EnvironmentProfile:
    return PROFILES[environment]


def fill(environment: DeploymentEnvironment, given: dict[str, Any]) -> dict[str, Any]:
    """Return ``given`` completed from the environment's profile (``given`` is not changed).

    ``given`` uses the configuration's own field names (``resources``, not
    ``resource_requirements``) and holds plain dicts for the sections.
    """
    profile = PROFILES[environment]
    filled = dict(given)
    filled.setdefault("strategy", profile.strategy)
    for section, defaults in profile.sections.items():
        filled[section] = _fill_section(section, defaults, given.get(section))
    if isinstance(given.get("database"), dict):
        filled["database"] = _fill_section("database", profile.database, given["database"])
    return filled


def _fill_section(section: str, defaults: dict[str, Any], given: Any) -> Any:
    if given is None:
        return dict(defaults)
    if not isinstance(given, dict):
        return given  # validation reports the wrong type with its field path
    merged = {**defaults, **given}
    meet(section, merged, given)
    return merged


def meet(section: str, values: dict[str, Any], chosen: Collection[str]) -> None:
    """Where the caller chose one side of a range in ``section``, move the other side to meet it.

    ``values`` is the section's merged values (changed in place); ``chosen`` the fields of
    the section the caller chose. A side the caller chose is never moved.
    """
    for range_section, low, high, measure in _RANGES:
        if range_section == section and (low in chosen) != (high in chosen) and low in values and high in values:
            _meet(values, low if low in chosen else high, low, high, measure)


def _meet(values: dict[str, Any], anchor: str, low: str, high: str, measure: Any) -> None:
    try:
        empty = measure(values[low]) > measure(values[high])
        positive = measure(values[anchor]) > 0
    except (ValueError, TypeError, ArithmeticError, quantities.QuantityError):
        return  # the chosen value is invalid; validation reports it
    if empty and positive:
        values[high if anchor == low else low] = values[anchor]
