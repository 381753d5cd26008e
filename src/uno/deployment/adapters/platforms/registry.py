"""Which driver serves which platform: the built-in ones, then plugins.

Custom platforms plug in through the ``uno.deployment.platforms`` entry point group: the
entry point's name is the platform (``custom``, or a built-in name to replace its driver),
its object a driver class (instantiated with no arguments) or instance. Drivers are
created on first use and kept. This is the only place that maps a platform to a driver:
there is no ``if platform == ...`` anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import settings_catalogue
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import PlatformDriver, SettingsDeclaration, not_honoured, without_driver

GROUP = "uno.deployment.platforms"


class DriverRegistry:
    def __init__(self, factories: Mapping[str, Callable[[], Any]] | None = None) -> None:
        self._factories: dict[str, Callable[[], Any]] = dict(factories or {})
        self._drivers: dict[str, PlatformDriver] = {}

    @classmethod
    def with_plugins(cls, factories: Mapping[str, Callable[[], Any]] | None = None) -> DriverRegistry:
        registry = cls(factories)
        for entry_point in entry_points(group=GROUP):
            registry._factories[entry_point.name] = entry_point.load
        return registry

    def register(self, platform: str, driver: PlatformDriver) -> None:
        self._drivers[platform] = driver

    def driver_for(self, config: DeploymentConfig) -> Result[PlatformDriver]:
        return self._driver(config.platform.value)

    def declaration_for(self, platform: str) -> SettingsDeclaration:
        """What ``platform``'s driver declares it honours; a driver that declares nothing honours nothing."""
        paths = settings_catalogue.PLATFORM_PATHS
        found = self._driver(platform)
        if isinstance(found, Failure):
            return without_driver(platform, paths)
        declared = getattr(found.value, "declaration", None)
        if isinstance(declared, SettingsDeclaration):
            return declared
        undeclared = not_honoured(f"the {platform} driver does not declare which settings it honours")
        return SettingsDeclaration(platform, dict.fromkeys(paths, undeclared), None)

    def _driver(self, platform: str) -> Result[PlatformDriver]:
        if platform in self._drivers:
            return Success(self._drivers[platform])
        factory = self._factories.get(platform)
        if factory is None:
            return Failure(
                ErrorDetails(
                    ErrorCode.PLATFORM_ERROR,
                    f"no platform driver is installed for {platform!r}: nothing was deployed or changed",
                    {"platform": platform},
                )
            )
        try:
            made = factory()
            driver = made() if isinstance(made, type) else made
        except Exception as error:  # a plugin's failure is reported, not raised into the engine
            return Failure(
                ErrorDetails(ErrorCode.PLATFORM_ERROR, f"the {platform} driver failed to start: {error}", {})
            )
        self._drivers[platform] = driver
        return Success(driver)
