"""Platform drivers: one small model for every platform, Spinnaker's "server group".

A *version set* is the running instances of one release. Every driver offers the same
primitives over version sets, and every strategy is written once over them:

    create_version(release, replicas)   scale_version(v, n)   set_traffic({v: weight})
    version_health(v)                   traffic_stats(v)      destroy_version(v)
    list_versions(app, environment)     render(release)

``render`` answers a document ``{"platform": ..., "notes": [...], "objects": [...]}`` (and
whatever else the platform wants to say, e.g. its namespace): each object is ``{"kind",
"name", "body"}`` where ``body`` is exactly what the platform's own tools take (a
Kubernetes manifest, an API request body), plus optional ``call`` (the API call that sends
it) and ``cli`` (the command line that takes it as a file). An optional top-level
``format`` (``yaml`` or ``json``) says how the bodies are written natively; without it,
objects that name a ``cli`` are JSON request bodies and the rest YAML documents.

A driver that can read what is live also implements ``LiveState`` (a separate, optional
protocol): ``diff`` compares, per object and field, what a deploy would make of each
object with what it is now.

Drivers turn their platform's errors into ``ErrorDetails`` (``PLATFORM_ERROR``) at their
boundary; nothing vendor-specific crosses it. A driver declares what it can do
(``Capabilities``) and strategies adapt: without traffic weights, a canary is refused
before anything changes.

A driver also declares which configuration settings it honours (``SettingsDeclaration``):
for each platform-side setting of ``domain.settings_catalogue``, by field path, whether
it does something with it and what, and the ``custom_settings`` keys it reads. The one
check (``services.honouring``) compares a configuration with that declaration, so a
setting is never accepted and silently ignored. It may also name the scanner
``security.scan_images`` runs on it when the configuration gives no ``scan_command``
(``ScanCommand``): what is scanned depends on what the platform runs (an image, a
Python environment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from uno.core.result import Result
from uno.deployment.domain.configs import DeploymentConfig


@dataclass(frozen=True, slots=True)
class Release:
    """What to run: one deployment's configuration snapshot."""

    deployment_id: str
    config: DeploymentConfig

    @property
    def app_name(self) -> str:
        return self.config.app_name

    @property
    def environment(self) -> str:
        return self.config.environment.value

    @property
    def version(self) -> str:
        return self.config.app_version


@dataclass(frozen=True, slots=True)
class VersionSet:
    """The running instances of one release, and the share of traffic they get."""

    id: str
    app_name: str
    environment: str
    version: str
    deployment_id: str
    replicas: int
    weight: int = 0


@dataclass(frozen=True, slots=True)
class VersionHealth:
    ready: int
    total: int
    message: str = ""
    failing: bool = False  # it will not become healthy by waiting: every replica keeps exiting (a crash loop)
    log_tail: tuple[str, ...] = ()  # when failing: the last lines one of its replicas wrote (if the platform has them)

    @property
    def healthy(self) -> bool:
        return self.total > 0 and self.ready == self.total


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """Requests a version served since its statistics were last reset (canary analysis)."""

    requests: int
    errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    traffic_weights: bool = True  # arbitrary weights between version sets (canary steps)
    traffic_stats: bool = True  # per-version request and error counts (canary analysis)


@dataclass(frozen=True, slots=True)
class Support:
    """What a platform does with one setting: ``honoured`` and how, or not and why."""

    honoured: bool
    note: str


def honoured(note: str) -> Support:
    return Support(True, note)


def not_honoured(note: str) -> Support:
    return Support(False, note)


@dataclass(frozen=True, slots=True)
class ScanCommand:
    """A vulnerability scanner to run before the deploy step: a non-zero exit stops the deploy."""

    argv: tuple[str, ...]
    cwd: str | None = None
    install: str = ""
    """How to get the program, for the one line that says it is missing."""


Scanner = Callable[[DeploymentConfig], ScanCommand | None]
"""A platform's default scanner for a configuration (None: nothing it can scan by default)."""


@dataclass(frozen=True, slots=True)
class SettingsDeclaration:
    """The settings a platform honours (field path -> ``Support``) and its ``custom_settings`` keys.

    ``custom_settings`` is ``None`` when the keys are not known here (a plugin that
    declares none): any key is then accepted. ``deprecated``: keys still read but replaced
    by a setting (key -> that setting's path); reported, never refused. ``scanner`` gives the
    default scanner of ``security.scan_images`` (None: a configuration must name its ``scan_command``).
    """

    platform: str
    settings: Mapping[str, Support]
    custom_settings: frozenset[str] | None = frozenset()
    deprecated: Mapping[str, str] = field(default_factory=dict)
    scanner: Scanner | None = None


def without_driver(platform: str, paths: Iterable[str]) -> SettingsDeclaration:
    """The declaration of a platform no installed driver serves: nothing platform-side is honoured."""
    reason = not_honoured(f"no driver for {platform} yet")
    return SettingsDeclaration(platform, dict.fromkeys(paths, reason), None)


class PlatformDriver(Protocol):
    name: str
    capabilities: Capabilities

    def check(self, config: DeploymentConfig) -> Result[None]:
        """Whether this driver can deploy ``config`` (its settings present and valid), touching nothing."""
        ...

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        """What ``config``'s replicas would run that this machine lacks, one line each (``check-dependencies``);
        none when the platform runs them elsewhere (a cluster pulls an image)."""
        ...

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]: ...

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]: ...

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        """Route traffic between version sets by weight (ids not named get 0), all at once."""
        ...

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]: ...

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        """Statistics since the last reset; ``reset`` starts a new window after reading."""
        ...

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        """Stop sending it traffic, let in-flight requests finish (up to the timeout), remove it."""
        ...

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        """Remove the version set ``after`` seconds from now, unless traffic comes back to it first.

        This is the rollback window: the previous release stays warm for a fast switch back,
        then goes. The schedule survives the driver's own restarts.
        """
        ...

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]: ...

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        """What deploying ``release`` would create or change, as plain data (plan, dry runs)."""
        ...


@dataclass(frozen=True, slots=True)
class LiveObject:
    """One platform object as a deploy would leave it (``wanted``) beside what it is now (``live``).

    ``None`` on either side: the deploy would create it (nothing live) or remove it (nothing
    wanted). Both sides are cleaned of what the platform fills in by itself (status,
    resource versions, defaults the deploy would not change), so any difference left is one
    a deploy would make. ``secret_paths`` names fields whose values are secret (masked
    in every answer); ``note`` says anything the reader should know about this object.
    """

    kind: str
    name: str
    wanted: Mapping[str, Any] | None
    live: Mapping[str, Any] | None
    secret_paths: tuple[str, ...] = ()
    note: str = ""


@runtime_checkable
class LiveState(Protocol):
    """A driver that can read what is live for a release (``diff``); optional beside ``PlatformDriver``."""

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """Each object a deploy of ``release`` would create, change or remove, wanted and live.

        Reads only: nothing changes. A platform that cannot be reached answers ``UNAVAILABLE``
        (or ``PLATFORM_ERROR``/``TIMEOUT``), never a guess.
        """
        ...


class PlatformDrivers(Protocol):
    def driver_for(self, config: DeploymentConfig) -> Result[PlatformDriver]:
        """The driver for the configuration's platform, or ``PLATFORM_ERROR`` naming what is missing."""
        ...

    def declaration_for(self, platform: str) -> SettingsDeclaration:
        """The settings ``platform``'s driver honours (``without_driver`` when none serves it)."""
        ...
