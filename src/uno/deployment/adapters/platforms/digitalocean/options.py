"""The DigitalOcean App Platform settings, read from a configuration's ``custom_settings``.

Keys (clients depend on them). Exactly one of ``app_id`` (an existing app's id: the driver
changes its one service, never the app's other components) or ``app`` (the name of an
app the driver creates). Exactly one of ``image`` (a container image reference in
DigitalOcean's registry, Docker Hub or GHCR: ``registry.digitalocean.com/shop/web:1.2``,
``docker.io/library/nginx:1.27``, ``ghcr.io/org/web:1.2``) or ``github`` (``{"repo":
"org/web", "branch": "main"}``: App Platform builds it). Optional: ``region`` (an App
Platform region slug such as ``ams``), ``token_env`` (the variable holding the API token,
default ``DIGITALOCEAN_TOKEN``: read at deploy time, never stored), ``service`` (the
service component's name, default ``web``) and ``instance_size`` (an instance size slug,
overriding the one chosen from ``resources``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import quantities
from uno.deployment.domain.configs import DeploymentConfig

REGIONS = ("atl", "nyc", "sfo", "tor", "ams", "fra", "lon", "blr", "sgp", "syd")  # the AppSpec's region enum
_APP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")  # the AppSpec's name pattern
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE = re.compile(
    r"^(?P<host>[a-z0-9.-]+\.[a-z]{2,}|localhost)/(?P<path>[a-z0-9._/-]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_BRANCH = re.compile(r"^[\w./-]{1,255}$")
_SIZE = re.compile(r"^apps-[sd]-\d+vcpu-[\d.]+gb(-fixed)?$")

KEYS = frozenset({"app_id", "app", "image", "github", "region", "token_env", "service", "instance_size"})

INSTANCE_SIZES: tuple[tuple[str, float, int], ...] = (
    # slug, vCPUs, memory (MiB): App Platform's instance sizes, smallest first (shared, then dedicated)
    ("apps-s-1vcpu-0.5gb", 1, 512),
    ("apps-s-1vcpu-1gb", 1, 1024),
    ("apps-s-1vcpu-2gb", 1, 2048),
    ("apps-s-2vcpu-4gb", 2, 4096),
    ("apps-d-2vcpu-8gb", 2, 8192),
    ("apps-d-4vcpu-8gb", 4, 8192),
    ("apps-d-4vcpu-16gb", 4, 16384),
    ("apps-d-8vcpu-32gb", 8, 32768),
)
REGISTRIES = {"registry.digitalocean.com": "DOCR", "docker.io": "DOCKER_HUB", "ghcr.io": "GHCR"}


@dataclass(frozen=True, slots=True)
class Image:
    registry_type: str
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class DigitalOceanOptions:
    instance_size: str
    app_id: str | None = None
    app: str | None = None
    image: Image | None = None
    github: tuple[str, str] | None = None  # repo, branch
    region: str | None = None
    token_env: str = "DIGITALOCEAN_TOKEN"
    service: str = "web"


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def instance_size(config: DeploymentConfig) -> str:
    """The smallest instance size holding ``cpu_max`` and ``memory_max`` (QuantityError when none does)."""
    cpu = quantities.parse_cpu(config.resources.cpu_max)
    memory = quantities.parse_memory(config.resources.memory_max) / 2**20
    for slug, cores, mebibytes in INSTANCE_SIZES:
        if cpu <= cores and memory <= mebibytes:
            return slug
    raise quantities.QuantityError(
        f"no App Platform instance size holds cpu_max {config.resources.cpu_max} and memory_max"
        f" {config.resources.memory_max} (the largest is apps-d-8vcpu-32gb)"
    )


def parse_image(text: str) -> Image | None:
    found = _IMAGE.match(text)
    if found is None or found.group("host") not in REGISTRIES:
        return None
    host, path = found.group("host"), found.group("path")
    if host == "registry.digitalocean.com":  # registry.digitalocean.com/<registry>/<repository>
        registry, _, repository = path.partition("/")
        if not repository:
            return None
    else:
        registry, _, repository = path.rpartition("/")
        if not registry:  # docker.io/nginx: Docker Hub's library namespace
            registry = "library"
    return Image(REGISTRIES[host], registry, repository, found.group("tag"), found.group("digest"))


def options_for(config: DeploymentConfig) -> Result[DigitalOceanOptions]:
    settings: dict[str, Any] = config.custom_settings
    found: dict[str, Any] = {}
    for read in (_app, _source, _optional):
        part = read(settings)
        if isinstance(part, Failure):
            return part
        found.update(part.value)
    if "instance_size" not in found:
        try:
            found["instance_size"] = instance_size(config)
        except quantities.QuantityError as error:
            return Failure(ErrorDetails.validation("resources", str(error)))
    return Success(DigitalOceanOptions(**found))


def _app(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    app_id, app = settings.get("app_id"), settings.get("app")
    if (app_id is None) == (app is None):
        return _problem("app_id", "give exactly one of app_id (an existing app's id) or app (the name of a new app)")
    if app_id is not None and (not isinstance(app_id, str) or not _APP_ID.match(app_id)):
        return _problem("app_id", "must be an App Platform app id (a UUID)")
    if app is not None and (not isinstance(app, str) or not _APP_NAME.match(app)):
        return _problem("app", "must be an app name: lowercase letters, digits and dashes, 2 to 32 characters")
    return Success({"app_id": app_id, "app": app})


def _source(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    image, github = settings.get("image"), settings.get("github")
    if (image is None) == (github is None):
        return _problem("image", "give exactly one of image (a container image) or github (a repository to build)")
    if image is not None:
        parsed = parse_image(image) if isinstance(image, str) else None
        if parsed is None:
            return _problem(
                "image", "must be an image in registry.digitalocean.com, docker.io or ghcr.io, with its tag"
            )
        return Success({"image": parsed})
    repo = github.get("repo") if isinstance(github, dict) else None
    branch = github.get("branch", "main") if isinstance(github, dict) else None
    if not isinstance(repo, str) or not _REPO.match(repo) or not isinstance(branch, str) or not _BRANCH.match(branch):
        return _problem("github", 'must be {"repo": "owner/name", "branch": "main"}')
    return Success({"github": (repo, branch)})


_RULES: dict[str, tuple[re.Pattern[str] | tuple[str, ...], str]] = {
    "region": (REGIONS, f"one of {', '.join(REGIONS)}"),
    "token_env": (_ENV_NAME, "the name of the variable holding the API token"),
    "service": (_SERVICE, "a component name such as web"),
    "instance_size": (_SIZE, "an instance size slug such as apps-s-1vcpu-1gb"),
}


def _optional(settings: dict[str, Any]) -> Result[dict[str, Any]]:
    found: dict[str, Any] = {}
    for key, (valid, what) in _RULES.items():
        value = settings.get(key)
        if value is None:
            continue
        good = isinstance(value, str) and (value in valid if isinstance(valid, tuple) else bool(valid.match(value)))
        if not good:
            return _problem(key, f"must be {what}")
        found[key] = value
    return Success(found)


def secret_names(config: DeploymentConfig) -> list[str]:
    """The variables sent as SECRET values read from the deployer's environment."""
    database = config.database
    names = list(config.secrets)
    if database is not None and database.engine != "sqlite" and database.password_env_var:
        names += [] if database.password_env_var in names else [database.password_env_var]
    return names
