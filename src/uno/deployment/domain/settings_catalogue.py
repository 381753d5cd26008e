"""Every setting a platform may or may not honour, and when a configuration asks for it.

The one table of what "configured" means, per field path. A setting is *active* in a
configuration (after its environment profile filled it in) when:

- a switch (``security.run_as_non_root``): it is on, whoever turned it on (the production
  profile turns several on);
- a value with an "off" (``network.domain``, ``environment_variables``): it is set;
- a value every configuration has (``resources.cpu_max``, ``network.port``,
  ``database.connection_pool_max``): the caller chose it (``given_fields``). Profiles fill
  these for every configuration; they become a promise only when someone writes them;
- ``resources.replicas_max`` (above ``replicas_min``) and
  ``resources.auto_scaling_cpu_threshold``: with ``auto_scaling`` on. Without it every
  platform runs ``replicas_min`` replicas, so the ceiling and the target mean nothing.

``PLATFORM`` settings are declared by each platform driver; ``ENGINE`` settings are
honoured by the engine whatever the platform (``engine.honoured``). Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uno.deployment.domain.configs import TEST_SUITES, DeploymentConfig


@dataclass(frozen=True, slots=True)
class Setting:
    path: str
    active: Callable[[DeploymentConfig], bool]
    when: str  # "configured" in words, for the docs


def value_at(config: DeploymentConfig, path: str) -> Any:
    head, _, name = path.partition(".")
    found: Any = getattr(config, head)
    if name:
        found = None if found is None else getattr(found, name)
    return found


def _switch(path: str) -> Setting:
    return Setting(path, lambda config: value_at(config, path) is True, "on")


def _set(path: str) -> Setting:
    return Setting(path, lambda config: bool(value_at(config, path)), "set")


def _chosen(path: str) -> Setting:
    return Setting(path, lambda config: path in config.given_fields and value_at(config, path) is not None, "given")


PLATFORM: tuple[Setting, ...] = (
    _chosen("resources.cpu_min"),
    _chosen("resources.cpu_max"),
    _chosen("resources.memory_min"),
    _chosen("resources.memory_max"),
    Setting("resources.replicas_min", lambda config: True, "always"),
    Setting(
        "resources.replicas_max",
        lambda config: config.resources.auto_scaling and config.resources.replicas_max > config.resources.replicas_min,
        "with auto_scaling on, above replicas_min",
    ),
    _switch("resources.auto_scaling"),
    Setting(
        "resources.auto_scaling_cpu_threshold", lambda config: config.resources.auto_scaling, "with auto_scaling on"
    ),
    _set("network.domain"),
    _switch("network.use_https"),
    _chosen("network.port"),
    _chosen("network.health_check_path"),
    _switch("security.enable_network_policy"),
    _switch("security.run_as_non_root"),
    _switch("security.read_only_root_filesystem"),
    _switch("monitoring.enable_tracing"),
    _switch("monitoring.enable_alerts"),
    _chosen("database.connection_pool_min"),
    _chosen("database.connection_pool_max"),
    _set("environment_variables"),
    _set("secrets"),
)

ENGINE: tuple[str, ...] = (
    "strategy",
    "auto_rollback",
    "build_command",
    *(f"testing.run_{suite}_tests" for suite in TEST_SUITES),
    *(f"testing.{suite}_test_command" for suite in TEST_SUITES),
    "testing.fail_on_test_failure",
    "testing.test_timeout",
    "database.engine",
    "database.host",
    "database.port",
    "database.name",
    "database.user",
    "database.password_env_var",
    "database.ssl_mode",
    "database.apply_migrations",
    "database.migration_command",
    "database.backup_before_deploy",
    "database.backup_retention",
    "security.scan_images",
    "security.scan_command",
    "monitoring.enable_logging",
    "monitoring.enable_metrics",
    "monitoring.log_level",
)

PLATFORM_PATHS: tuple[str, ...] = tuple(setting.path for setting in PLATFORM)


def active(config: DeploymentConfig) -> list[str]:
    """The platform-side settings ``config`` asks for, in the table's order."""
    return [setting.path for setting in PLATFORM if setting.active(config)]


def commandless_suites(config: DeploymentConfig) -> list[str]:
    """The test suites ``config`` enables without a command to run them (skipped by the pipeline)."""
    return [suite for suite in config.testing.enabled_suites() if not config.testing.command_for(suite)]
