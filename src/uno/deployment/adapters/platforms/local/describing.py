"""The ``local`` platform's objects, as ``render`` shows them and as ``diff`` reads them back from the agent.

Two objects per application and environment, named ``<app>-<environment>``:

- the ``Router``: where it listens, over what, for which host, with which certificate;
- the ``Processes``: what each replica runs (command, working directory, environment,
  the names of its secrets), how many, how they are probed, their logs, their confinement
  and autoscaling.

The same functions build both sides, from a configuration (``wanted``) and from what the
agent runs (``live``: its ``describe`` answer for the version set that serves), so a
difference is always a setting, never a difference of spelling. Secret values appear on
neither side: the agent keeps them in memory only, and only their names are compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno.deployment.adapters.platforms.local import confinement, options, scaling
from uno.deployment.domain import connections
from uno.deployment.domain.configs import DeploymentConfig

ROUTER = "Router"
PROCESSES = "Processes"
PORT_SHOWN = "<private port>"


def object_name(app: str, environment: str) -> str:
    return f"{app}-{environment}"


def wanted(config: DeploymentConfig, local: options.LocalOptions) -> list[dict[str, Any]]:
    """The objects a deploy of ``config`` makes, in ``render``'s shape."""
    name = object_name(config.app_name, config.environment.value)
    certificate = local.tls_cert_file or (_self_signed(local.domain) if local.use_https else None)
    router = router_body(local.port, local.use_https, local.domain, certificate, local.health_path)
    processes = {
        "command": list(local.command),
        "workdir": local.workdir,
        "replicas": config.resources.replicas_min,
        "env": {
            "PORT": PORT_SHOWN,
            **config.environment_variables,
            **_database_plain(config),
            "APP_VERSION": config.app_version,
        },
        "secrets": sorted({*config.secrets, *_database_secret(config)}),
        "health": _health(
            local.health_path,
            local.health_interval,
            local.health_timeout,
            local.healthy_threshold,
            local.unhealthy_threshold,
        ),
        "logs": {"max_bytes": local.log_max_bytes, "backups": local.log_backups},
        "confinement": confinement.from_config(config, local.run_as_user).to_json(),
        "autoscaling": _autoscaling(config, local),
    }
    return [_object(ROUTER, name, router), _object(PROCESSES, name, processes)]


def live(described: Mapping[str, Any], tls_dir: str) -> list[dict[str, Any]]:
    """The objects as the agent runs them: one ``describe`` answer (the serving version set)."""
    name = object_name(str(described["app"]), str(described["environment"]))
    certificate = described.get("tls_cert_file")
    if certificate and str(certificate).startswith(tls_dir):
        certificate = _self_signed(described.get("domain"))  # made by a deploy, not configured
    router = router_body(
        int(described["port"]),
        bool(described.get("use_https")),
        described.get("domain"),
        certificate if described.get("use_https") else None,
        str(described["health_path"]),
    )
    env = {"PORT": PORT_SHOWN, **{key: value for key, value in described["env"].items() if key != "PORT"}}
    health = described["health"]
    processes = {
        "command": list(described["argv"]),
        "workdir": described.get("workdir"),
        "replicas": int(described["replicas"]),
        "env": env,
        "secrets": sorted(described.get("secret_names", [])),
        "health": _health(
            str(described["health_path"]),
            float(health["interval"]),
            float(health["timeout"]),
            int(health["healthy_threshold"]),
            int(health["unhealthy_threshold"]),
        ),
        "logs": dict(described["logs"]),
        "confinement": dict(described.get("confinement") or {}),
        "autoscaling": described.get("autoscaling_policy"),
    }
    return [_object(ROUTER, name, router), _object(PROCESSES, name, processes)]


def router_body(
    port: int, use_https: bool, domain: str | None, certificate: str | None, health_path: str
) -> dict[str, Any]:
    router: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "scheme": "https" if use_https else "http",
        "serves": domain or "any host",
    }
    if use_https:
        router["certificate"] = certificate
    router["health_path"] = health_path
    return router


def _health(path: str, interval: float, timeout: float, healthy: int, unhealthy: int) -> dict[str, Any]:
    return {
        "path": path,
        "interval": interval,
        "timeout": timeout,
        "healthy_threshold": healthy,
        "unhealthy_threshold": unhealthy,
    }


def _object(kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "name": name, "body": body}


def _self_signed(domain: str | None) -> str:
    return f"self-signed for {domain or 'localhost'}, made by the first deploy"


def _autoscaling(config: DeploymentConfig, local: options.LocalOptions) -> dict[str, Any] | None:
    policy = scaling.policy_for(config, local.autoscale_interval, local.scale_down_stabilization)
    return None if policy is None else policy.as_request()


def _database_plain(config: DeploymentConfig) -> dict[str, str]:
    return {} if config.database is None else dict(connections.pool_environment(config.database))


def _database_secret(config: DeploymentConfig) -> list[str]:
    return [] if config.database is None else [connections.URL_VARIABLE]
