"""Platform drivers shipped in optional extras: the driver when its extra is installed, else a stand-in.

The cloud SDKs and the Kubernetes client are extras (``pip install 'uno-deployment[aws]'``
...), so a platform's package imports none of them: ``load`` imports its ``driver`` module on
first use. When that import fails for want of one of the extra's own modules, the platform
gets ``MissingExtra`` instead: every primitive fails saying what to install, so a
configuration for it is refused at its first platform step, before anything changes,
rather than failing at import time for everyone. Any other import error is a bug of ours
and is raised. A platform whose rendering is pure data gives ``render``, and its stand-in
still renders.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import (
    Capabilities,
    PlatformDriver,
    Release,
    SettingsDeclaration,
    TrafficStats,
    VersionHealth,
    VersionSet,
)

Chosen = TypeVar("Chosen")


def pure_render(
    options_for: Callable[[DeploymentConfig], Result[Chosen]], render: Callable[[Release, Chosen], dict[str, Any]]
) -> Callable[[Release], Result[dict[str, Any]]]:
    """A platform's ``render`` from its settings parser and its pure rendering: no SDK, no I/O."""

    def rendered(release: Release) -> Result[dict[str, Any]]:
        chosen = options_for(release.config)
        if isinstance(chosen, Failure):
            return chosen
        return Success(render(release, chosen.value))

    return rendered


@dataclass(frozen=True, slots=True)
class Extra:
    """What a platform's extra is: its name, how to install it, its top-level modules."""

    platform: str
    modules: frozenset[str]
    declaration: SettingsDeclaration
    render: Callable[[Release], Result[dict[str, Any]]] | None = None
    """Rendering without the extra (pure data), if the platform has it."""

    @property
    def install(self) -> str:
        return f"pip install 'uno-deployment[{self.platform}]'"


def load(extra: Extra, module: str, driver: str, environ: Mapping[str, str] | None) -> PlatformDriver:
    """``module``'s ``driver`` class made with ``environ``, or the stand-in when the extra is missing."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as missing:
        root = (missing.name or "").split(".")[0]
        if root not in extra.modules:
            raise  # a bug of ours, not a missing extra
        return MissingExtra(extra, root)
    return cast(PlatformDriver, getattr(loaded, driver)(environ))


class MissingExtra:
    """The driver when the extra is not installed: it says so, and changes nothing."""

    capabilities = Capabilities(traffic_weights=False, traffic_stats=False)

    def __init__(self, extra: Extra, module: str) -> None:
        self.name = extra.platform
        self.declaration = extra.declaration
        self._extra = extra
        message = f"the {extra.platform} platform is not installed (no module {module!r}): {extra.install}"
        self._failure = Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"install": extra.install}))

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
        return self._extra.render(release) if self._extra.render is not None else self._failure
