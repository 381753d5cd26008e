"""The Heroku platform's settings, read from a configuration's ``custom_settings``.

Keys (clients depend on them). Required: ``app`` (the Heroku app, made once outside
uno-deploy: the driver changes its config vars, formation, preboot feature and releases,
never creates or deletes it) and ``source_dir`` (the directory whose gzipped tarball
Heroku builds: ``POST /sources``, upload, ``POST /apps/{app}/builds``). Optional:
``api_key_env`` (the variable holding the API token, default ``HEROKU_API_KEY``: read at
deploy time from the deployer's environment, never stored), ``region`` and ``stack``
(what the app must be in and build on: checked against the app before anything changes,
since the API cannot move an existing app), ``process_type`` (default ``web``: the
formation entry sized and scaled), ``size`` (a dyno size, overriding the one chosen from
``resources``) and ``build_timeout_seconds`` (how long a build may take, default 900).

Nothing here does I/O: the settings are checked the same way with or without a token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import quantities
from uno.deployment.domain.configs import DeploymentConfig

_APP = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")  # the platform API's app name pattern
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGION = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
_STACK = re.compile(r"^[a-z0-9-]{1,40}$")
_PROCESS = re.compile(r"^[a-z0-9_-]{1,30}$")
_SIZE = re.compile(r"^[A-Za-z0-9-]{1,40}$")

KEYS = frozenset(
    {"app", "source_dir", "api_key_env", "region", "stack", "process_type", "size", "build_timeout_seconds"}
)

DYNO_SIZES: tuple[tuple[str, float, int], ...] = (
    # name, CPU share it gives (cores), memory (MiB): Heroku's published dyno sizes, smallest first
    ("standard-1x", 1.0, 512),
    ("standard-2x", 1.0, 1024),
    ("performance-m", 2.0, 2560),
    ("performance-l", 8.0, 14336),
)


@dataclass(frozen=True, slots=True)
class HerokuOptions:
    app: str
    source_dir: str
    size: str
    api_key_env: str = "HEROKU_API_KEY"
    region: str | None = None
    stack: str | None = None
    process_type: str = "web"
    build_timeout_seconds: int = 900


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def dyno_size(config: DeploymentConfig) -> str:
    """The smallest dyno size holding ``cpu_max`` and ``memory_max`` (QuantityError when none does)."""
    cpu = quantities.parse_cpu(config.resources.cpu_max)
    memory = quantities.parse_memory(config.resources.memory_max) / 2**20
    for name, cores, mebibytes in DYNO_SIZES:
        if cpu <= cores and memory <= mebibytes:
            return name
    raise quantities.QuantityError(
        f"no Heroku dyno size holds cpu_max {config.resources.cpu_max} and memory_max"
        f" {config.resources.memory_max} (the largest is performance-l: 8 cores, 14Gi)"
    )


def options_for(config: DeploymentConfig) -> Result[HerokuOptions]:
    settings: dict[str, Any] = config.custom_settings
    found: dict[str, Any] = {}
    rules: dict[str, tuple[re.Pattern[str], str]] = {
        "app": (_APP, "a Heroku app name (lowercase letters, digits and dashes, 3 to 30 characters)"),
        "api_key_env": (_ENV_NAME, "the name of the environment variable holding the Heroku API token"),
        "region": (_REGION, "a Heroku region such as us or eu"),
        "stack": (_STACK, "a Heroku stack such as heroku-24"),
        "process_type": (_PROCESS, "a process type of the Procfile such as web"),
        "size": (_SIZE, "a dyno size such as standard-1x"),
    }
    for key, (pattern, what) in rules.items():
        value = settings.get(key)
        if value is None:
            if key == "app":
                return _problem(key, f"the heroku platform needs 'app': {what}, made once outside uno-deploy")
            continue
        if not isinstance(value, str) or not pattern.match(value):
            return _problem(key, f"must be {what}")
        found[key] = value
    source = settings.get("source_dir")
    if not isinstance(source, str) or not source.strip():
        return _problem("source_dir", "the heroku platform needs 'source_dir': the directory Heroku builds")
    found["source_dir"] = source
    timeout = settings.get("build_timeout_seconds", 900)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86_400:
        return _problem("build_timeout_seconds", "must be a whole number of seconds from 1 to 86400")
    found["build_timeout_seconds"] = timeout
    if "size" not in found:
        try:
            found["size"] = dyno_size(config)
        except quantities.QuantityError as error:
            return Failure(ErrorDetails.validation("resources", str(error)))
    return Success(HerokuOptions(**found))


def secret_names(config: DeploymentConfig) -> list[str]:
    """The config vars read from the deployer's environment: the secrets and the database password's variable."""
    database = config.database
    names = list(config.secrets)
    if database is not None and database.engine != "sqlite" and database.password_env_var:
        names += [] if database.password_env_var in names else [database.password_env_var]
    return names
