"""The local platform's settings, read from a configuration's ``custom_settings`` and ``network``.

Keys (clients depend on them): ``command`` (argument list, required), ``port`` (the
public port the router listens on, default ``network.port``), ``health_path`` (deprecated:
``network.health_check_path`` is the path probed; this alias, when set, wins),
``workdir`` (optional), ``tls_cert_file`` and ``tls_key_file`` (the PEM certificate and
key served with ``network.use_https``; without them a self-signed one is made, ``tls``).
Health probing: ``health_interval_seconds`` (default 1),
``health_timeout_seconds`` (default 5), ``healthy_threshold`` (consecutive passes before a
replica gets traffic, default 1) and ``unhealthy_threshold`` (failures before it loses it,
default 3). Replica logs: ``log_max_bytes`` (a log file larger than this is rotated,
default 10 MiB) and ``log_backups`` (rotated files kept, default 3; see ``rotating``).
Autoscaling (with ``resources.auto_scaling`` on, see ``autoscaling``):
``autoscale_interval_seconds`` (how often the replicas' CPU is measured, default 15, as
a Kubernetes HPA) and ``scale_down_stabilization_seconds`` (how long a lower
recommendation must last before replicas are removed, default 300).
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
from uno.deployment.adapters.platforms.local import rotating, scaling, tls
from uno.deployment.domain.configs import DeploymentConfig


@dataclass(frozen=True, slots=True)
class LocalOptions:
    command: tuple[str, ...]
    port: int
    health_path: str = "/health"
    workdir: str | None = None
    health_interval: float = 1.0
    health_timeout: float = 5.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    log_max_bytes: int = rotating.DEFAULT_MAX_BYTES
    log_backups: int = rotating.DEFAULT_BACKUPS
    autoscale_interval: float = scaling.DEFAULT_INTERVAL
    scale_down_stabilization: float = scaling.DEFAULT_STABILIZATION
    domain: str | None = None  # network.domain: the only host the router serves
    use_https: bool = False  # network.use_https: the router terminates TLS
    tls_cert_file: str | None = None  # None with use_https: a self-signed certificate is made (``tls``)
    tls_key_file: str | None = None
    run_as_user: str = "nobody"

    @property
    def scheme(self) -> str:
        return "https" if self.use_https else "http"


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def options_for(config: DeploymentConfig) -> Result[LocalOptions]:
    settings: dict[str, Any] = config.custom_settings
    command = _command(config)
    if isinstance(command, Failure):
        return command
    port = settings.get("port", config.network.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return _problem("port", "must be the public port (1-65535) the router listens on (default: network.port)")
    path = settings.get("health_path", config.network.health_check_path)
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
    pacing = _autoscale_settings(settings)
    if isinstance(pacing, Failure):
        return pacing
    served = _tls_files(settings, config.network.use_https)
    if isinstance(served, Failure):
        return served
    user = settings.get("run_as_user", "nobody")
    used = "run_as_user" in settings or (config.security.run_as_non_root and os.geteuid() == 0)
    if used and not (isinstance(user, str) and _user_exists(user)):
        return _problem("run_as_user", f"{user!r} is not a user of this machine (run_as_non_root runs replicas as it)")
    return Success(
        LocalOptions(
            tuple(command.value),
            port,
            path,
            workdir,
            timings["health_interval_seconds"],
            timings["health_timeout_seconds"],
            thresholds["healthy_threshold"],
            thresholds["unhealthy_threshold"],
            logs.value.max_bytes,
            logs.value.backups,
            *pacing.value,
            config.network.domain,
            config.network.use_https,
            *served.value,
            user,
        )
    )


def _command(config: DeploymentConfig) -> Result[list[str]]:
    command = config.custom_settings.get("command")
    if not (isinstance(command, list) and command and all(isinstance(arg, str) and arg for arg in command)):
        return _problem("command", "the local platform needs 'command': the program and its arguments, as a list")
    if config.security.read_only_root_filesystem and (hidden := _under_private_tmp(command)):
        message = (
            f"{hidden} is under /tmp, which read_only_root_filesystem replaces with the replica's own empty tmpfs: "
            "it would not be found (move it, or give it relative to custom_settings.workdir)"
        )
        return _problem("command", message)
    return Success(command)


def _under_private_tmp(command: list[str]) -> str | None:
    """The first absolute path of ``command`` under /tmp: hidden from a replica with a read-only root filesystem.

    The replica's /tmp is a fresh tmpfs (``confining``); its working directory stays reachable
    (it starts in it), so only absolute paths are lost.
    """
    for argument in command:
        if os.path.isabs(argument) and os.path.normpath(argument).startswith("/tmp/"):
            return argument
    return None


def _tls_files(settings: dict[str, Any], use_https: bool) -> Result[tuple[str | None, str | None]]:
    """``tls_cert_file`` and ``tls_key_file``: both or neither, only with use_https, a pair that can be served."""
    cert, key = settings.get("tls_cert_file"), settings.get("tls_key_file")
    for name, value in (("tls_cert_file", cert), ("tls_key_file", key)):
        if value is not None and not (isinstance(value, str) and value):
            return _problem(name, "must be the path of a PEM file")
    if cert is None and key is None:
        return Success((None, None))
    if cert is None or key is None:
        return _problem("tls_cert_file" if cert is None else "tls_key_file", "give both tls_cert_file and tls_key_file")
    if not use_https:
        return _problem("tls_cert_file", "is served only with network.use_https on")
    problem = tls.pair_problem(cert, key)
    return _problem("tls_cert_file", problem) if problem else Success((cert, key))


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


def _autoscale_settings(settings: dict[str, Any]) -> Result[tuple[float, float]]:
    """The autoscaler's measuring interval and scale-down stabilization window, in seconds."""
    found = []
    for key, default, low in (
        ("autoscale_interval_seconds", scaling.DEFAULT_INTERVAL, 0.1),
        ("scale_down_stabilization_seconds", scaling.DEFAULT_STABILIZATION, 0.0),
    ):
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= 3600:
            return _problem(key, f"must be a number of seconds from {low:g} to 3600")
        found.append(float(value))
    return Success((found[0], found[1]))


# The few variables every program expects; everything else a replica gets comes from its configuration.
BASELINE_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def baseline_environment(environ: Mapping[str, str], also: Iterable[str] = ()) -> dict[str, str]:
    names = (*BASELINE_VARIABLES, *also)
    return {name: environ[name] for name in names if name in environ}
