"""The local platform's settings, read from a configuration's ``custom_settings``.

Keys (clients depend on them): ``command`` (argument list, required), ``port`` (the
public port the router listens on, required), ``health_path`` (default ``/healthz``),
``workdir`` (optional). Health probing: ``health_interval_seconds`` (default 1),
``health_timeout_seconds`` (default 5), ``healthy_threshold`` (consecutive passes before a
replica gets traffic, default 1) and ``unhealthy_threshold`` (failures before it loses it,
default 3). Replica logs: ``log_max_bytes`` (a log file larger than this is rotated,
default 10 MiB) and ``log_backups`` (rotated files kept, default 3; see ``rotating``).
"""

from __future__ import annotations

import math
import os
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.local import rotating
from uno.deployment.domain.configs import DeploymentConfig


@dataclass(frozen=True, slots=True)
class LocalOptions:
    command: tuple[str, ...]
    port: int
    health_path: str = "/healthz"
    workdir: str | None = None
    health_interval: float = 1.0
    health_timeout: float = 5.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    log_max_bytes: int = rotating.DEFAULT_MAX_BYTES
    log_backups: int = rotating.DEFAULT_BACKUPS
    run_as_user: str = "nobody"


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def options_for(config: DeploymentConfig) -> Result[LocalOptions]:
    settings: dict[str, Any] = config.custom_settings
    command = settings.get("command")
    if not (isinstance(command, list) and command and all(isinstance(arg, str) and arg for arg in command)):
        return _problem("command", "the local platform needs 'command': the program and its arguments, as a list")
    port = settings.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return _problem("port", "the local platform needs 'port': the public port (1-65535) the router listens on")
    path = settings.get("health_path", "/healthz")
    if not isinstance(path, str) or not path.startswith("/") or any(char.isspace() for char in path):
        return _problem("health_path", "must be a URL path such as /healthz")
    workdir = settings.get("workdir")
    if workdir is not None and not isinstance(workdir, str):
        return _problem("workdir", "must be a directory path")
    timings = {}
    for key, default in (("health_interval_seconds", 1.0), ("health_timeout_seconds", 5.0)):
        value = settings.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or math.isnan(value)
            or not 0.05 <= value <= 600
        ):
            return _problem(key, "must be a number of seconds from 0.05 to 600")
        timings[key] = float(value)
    thresholds = {}
    for key, default in (("healthy_threshold", 1), ("unhealthy_threshold", 3)):
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            return _problem(key, "must be a whole number from 1 to 100")
        thresholds[key] = value
    logs = _log_settings(settings)
    if isinstance(logs, Failure):
        return logs
    user = settings.get("run_as_user", "nobody")
    used = "run_as_user" in settings or (config.security.run_as_non_root and os.geteuid() == 0)
    if used and not (isinstance(user, str) and _user_exists(user)):
        return _problem("run_as_user", f"{user!r} is not a user of this machine (run_as_non_root runs replicas as it)")
    return Success(
        LocalOptions(
            tuple(command),
            port,
            path,
            workdir,
            timings["health_interval_seconds"],
            timings["health_timeout_seconds"],
            thresholds["healthy_threshold"],
            thresholds["unhealthy_threshold"],
            logs.value.max_bytes,
            logs.value.backups,
            user,
        )
    )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _log_settings(settings: dict[str, Any]) -> Result[rotating.LogPolicy]:
    max_bytes = settings.get("log_max_bytes", rotating.DEFAULT_MAX_BYTES)
    low, high = rotating.MIN_MAX_BYTES, rotating.MAX_MAX_BYTES
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or not low <= max_bytes <= high:
        return _problem("log_max_bytes", f"must be a whole number of bytes from {low} (1 KiB) to {high} (1 TiB)")
    backups = settings.get("log_backups", rotating.DEFAULT_BACKUPS)
    if isinstance(backups, bool) or not isinstance(backups, int) or not 0 <= backups <= rotating.MAX_BACKUPS:
        return _problem("log_backups", f"must be a whole number from 0 to {rotating.MAX_BACKUPS}")
    return Success(rotating.LogPolicy(max_bytes, backups))


# The few variables every program expects; everything else a replica gets comes from its configuration.
BASELINE_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def baseline_environment(environ: Mapping[str, str], also: Iterable[str] = ()) -> dict[str, str]:
    names = (*BASELINE_VARIABLES, *also)
    return {name: environ[name] for name in names if name in environ}
