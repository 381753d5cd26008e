"""The ``digitalocean`` platform: App Platform apps (``pip install 'uno-deployment[digitalocean]'``).

The driver (``driver.DigitalOceanDriver``) uses the official ``pydo`` client, an optional
extra, so this package imports none of it: ``make_driver`` gives the real driver when the
extra is installed, else a stand-in whose every primitive fails saying what to install
(a configuration for the platform is refused at its first platform step, before anything
changes). ``render`` needs no extra (``rendering`` is pure data), so the stand-in still renders.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.digitalocean import honoured, options, rendering
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import (
    Capabilities,
    PlatformDriver,
    Release,
    TrafficStats,
    VersionHealth,
    VersionSet,
)

INSTALL = "pip install 'uno-deployment[digitalocean]'"
EXTRA_MODULES = {"pydo", "azure", "msrest", "isodate"}


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    try:
        module = importlib.import_module(f"{__name__}.driver")
    except ImportError as missing:
        root = (missing.name or "").split(".")[0]
        if root not in EXTRA_MODULES:
            raise  # a bug of ours, not a missing extra
        return MissingExtra(root)
    return cast(PlatformDriver, module.DigitalOceanDriver(environ))


class MissingExtra:
    """The driver when the extra is not installed: it says so, and changes nothing."""

    name = "digitalocean"
    capabilities = Capabilities(traffic_weights=False, traffic_stats=False)
    declaration = honoured.DECLARATION

    def __init__(self, module: str) -> None:
        message = f"the digitalocean platform is not installed (no module {module!r}): {INSTALL}"
        self._failure = Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"install": INSTALL}))

    def check(self, config: DeploymentConfig) -> Result[None]:
        return self._failure

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        return self._failure

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        return self._failure

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        return self._failure

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        return self._failure

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        return self._failure

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        return self._failure

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        return self._failure

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        return self._failure

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        chosen = options.options_for(release.config)
        if isinstance(chosen, Failure):
            return chosen
        return Success(rendering.render(release, chosen.value))
