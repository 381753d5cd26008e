"""A platform driver that keeps its version sets in memory: for tests, demos and docs.

It behaves as a real driver would at the level of the primitives (weights always sum to
100 over the versions named, destroyed versions are gone, scaling changes replicas), and
lets a test decide what the world looks like: how many health checks a version needs
before it is ready (``ready_after``), which versions never become healthy
(``unhealthy``), and what traffic each version serves (``traffic``). Every call is kept
in ``calls`` so a test can check what a strategy did, in order.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import settings_catalogue
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import (
    Capabilities,
    Release,
    ScanCommand,
    SettingsDeclaration,
    TrafficStats,
    VersionHealth,
    VersionSet,
    honoured,
)

FAKE_SCAN = ScanCommand((sys.executable, "-c", "print('the fake platform has nothing to scan')"))
"""What ``security.scan_images`` runs on the fake: a real program, saying that nothing was scanned."""

SIMULATES_EVERYTHING = SettingsDeclaration(
    "fake",
    dict.fromkeys(settings_catalogue.PLATFORM_PATHS, honoured("simulated: the fake records it")),
    None,
    scanner=lambda config: FAKE_SCAN,
)
"""The fake's default declaration: it stands in for any platform; pass one to stand in for a particular one."""


class FakeDriver:
    name = "fake"

    def __init__(
        self, capabilities: Capabilities | None = None, declaration: SettingsDeclaration | None = None
    ) -> None:
        self.capabilities = capabilities or Capabilities()
        self.declaration = declaration or SIMULATES_EVERYTHING
        self.versions: dict[str, VersionSet] = {}
        self.calls: list[tuple[str, Any]] = []
        self.ready_after: dict[str, int] = {}  # app version -> health checks before it is ready
        self.unhealthy: set[str] = set()  # app versions that never become ready
        self.traffic: dict[str, TrafficStats] = {}  # app version -> what its next stats read returns
        self.failing: set[str] = set()  # primitives that fail ("create_version", ...)
        self.retiring: dict[str, float] = {}  # version set id -> seconds until it is removed
        self._checks: dict[str, int] = {}
        self._serial = itertools.count(1)

    def check(self, config: DeploymentConfig) -> Result[None]:
        return Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []

    def _fail(self, primitive: str) -> Failure | None:
        if primitive in self.failing:
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, f"{primitive} failed on the fake platform", {}))
        return None

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        self.calls.append(("create_version", (release.version, replicas)))
        if problem := self._fail("create_version"):
            return problem
        identifier = f"{release.app_name}-{release.environment}-{release.version}-{next(self._serial)}"
        version = VersionSet(
            identifier, release.app_name, release.environment, release.version, release.deployment_id, replicas, 0
        )
        self.versions[identifier] = version
        return Success(version)

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        self.calls.append(("scale_version", (version.id, replicas)))
        if problem := self._fail("scale_version") or self._missing(version.id):
            return problem
        scaled = replace(self.versions[version.id], replicas=replicas)
        self.versions[version.id] = scaled
        self._checks.pop(version.id, None)
        return Success(scaled)

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        self.calls.append(("set_traffic", dict(weights)))
        if problem := self._fail("set_traffic"):
            return problem
        for identifier in weights:
            if problem_ := self._missing(identifier):
                return problem_
        for identifier, version in list(self.versions.items()):
            if (version.app_name, version.environment) == (app_name, environment):
                self.versions[identifier] = replace(version, weight=weights.get(identifier, 0))
                if weights.get(identifier, 0) > 0:
                    self.retiring.pop(identifier, None)  # traffic came back: no longer retiring
        return Success(None)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        if problem := self._missing(version.id):
            return problem
        current = self.versions[version.id]
        checks = self._checks[version.id] = self._checks.get(version.id, 0) + 1
        if current.version in self.unhealthy:
            return Success(VersionHealth(0, current.replicas, "health endpoint answers 500"))
        ready = current.replicas if checks > self.ready_after.get(current.version, 0) else 0
        return Success(VersionHealth(ready, current.replicas))

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        if problem := self._missing(version.id):
            return problem
        return Success(self.traffic.get(self.versions[version.id].version, TrafficStats(0, 0)))

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        self.calls.append(("destroy_version", version.id))
        if problem := self._fail("destroy_version"):
            return problem
        self.versions.pop(version.id, None)
        return Success(None)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        self.calls.append(("retire_version", (version.id, after)))
        if problem := self._missing(version.id):
            return problem
        self.retiring[version.id] = after
        return Success(None)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        return Success([v for v in self.versions.values() if (v.app_name, v.environment) == (app_name, environment)])

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        replicas = release.config.resources.replicas_min
        return Success(
            {
                "version_set": f"{release.app_name}-{release.environment}-{release.version}",
                "replicas": replicas,
                "strategy": release.config.strategy.value,
            }
        )

    def serving(self) -> dict[str, int]:
        """App version -> weight, for versions that get traffic (what a user would look at)."""
        return {version.version: version.weight for version in self.versions.values() if version.weight > 0}

    def _missing(self, identifier: str) -> Failure | None:
        if identifier not in self.versions:
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, f"version set {identifier} does not exist", {}))
        return None
