"""The App Platform app spec a deploy sends, built from a configuration (pure data).

One service component (``options.service``) runs the release: its image or GitHub
source, instance count and size from ``resources`` (or App Platform's CPU autoscaling with
``auto_scaling``), the health check path, the HTTP port, and its environment (plain
values ``GENERAL``, secrets ``SECRET`` with values read from the deployer's environment
at deploy time). The release's identity travels in its environment
(``UNO_DEPLOYMENT_ID``, ``APP_VERSION``), so each App Platform deployment, which keeps
the spec it ran, says which uno-deploy deployment made it. Tests validate every spec
against the ``AppSpec`` schema of DigitalOcean's vendored OpenAPI description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno.deployment.adapters.platforms.digitalocean.options import DigitalOceanOptions, secret_names
from uno.deployment.domain import connections
from uno.deployment.domain.configs import DeploymentConfig

DEPLOYMENT_ID = "UNO_DEPLOYMENT_ID"


def plain_vars(config: DeploymentConfig, deployment_id: str) -> dict[str, str]:
    variables = dict(sorted(config.environment_variables.items()))
    variables["APP_VERSION"] = config.app_version
    variables[DEPLOYMENT_ID] = deployment_id
    database = config.database
    if database is not None:
        variables.update(connections.pool_environment(database))
        variables[connections.URL_VARIABLE] = connections.url_with(database, "")
    return variables


def envs(config: DeploymentConfig, deployment_id: str, secrets: Mapping[str, str]) -> list[dict[str, Any]]:
    """The service's environment: plain values, then each secret as a SECRET (App Platform encrypts it)."""
    found: list[dict[str, Any]] = [
        {"key": key, "value": value, "scope": "RUN_TIME", "type": "GENERAL"}
        for key, value in plain_vars(config, deployment_id).items()
    ]
    found += [
        {"key": name, "value": secrets[name], "scope": "RUN_TIME", "type": "SECRET"} for name in secret_names(config)
    ]
    return found


def service(
    config: DeploymentConfig, chosen: DigitalOceanOptions, deployment_id: str, secrets: Mapping[str, str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": chosen.service,
        "instance_size_slug": chosen.instance_size,
        "http_port": config.network.port,
        "health_check": {"http_path": config.network.health_check_path},
        "envs": envs(config, deployment_id, secrets),
    }
    if chosen.image is not None:
        image = chosen.image
        body["image"] = {
            "registry_type": image.registry_type,
            "repository": image.repository,
            **({"registry": image.registry} if image.registry_type != "DOCR" or image.registry else {}),
            **({"tag": image.tag} if image.tag else {}),
            **({"digest": image.digest} if image.digest else {}),
        }
    elif chosen.github is not None:
        repo, branch = chosen.github
        body["github"] = {"repo": repo, "branch": branch, "deploy_on_push": False}
    resources = config.resources
    if resources.auto_scaling and resources.replicas_max > resources.replicas_min:
        body["autoscaling"] = {
            "min_instance_count": resources.replicas_min,
            "max_instance_count": resources.replicas_max,
            "metrics": {"cpu": {"percent": resources.auto_scaling_cpu_threshold}},
        }
    else:
        body["instance_count"] = resources.replicas_min
    return body


def app_spec(
    config: DeploymentConfig,
    chosen: DigitalOceanOptions,
    deployment_id: str,
    secrets: Mapping[str, str],
    live: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole spec: ``live``'s (an existing app's) with this driver's service put in, or a new app's."""
    mine = service(config, chosen, deployment_id, secrets)
    if live is None:
        spec: dict[str, Any] = {"name": chosen.app or config.app_name, "services": [mine]}
    else:
        spec = dict(live)
        others = [item for item in live.get("services", []) if item.get("name") != chosen.service]
        spec["services"] = [*others, mine]
    if chosen.region:
        spec["region"] = chosen.region
    return spec


def update_request(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``PUT /v2/apps/{id}`` (``apps.update``), or the body of ``POST /v2/apps`` (``apps.create``)."""
    return {"spec": dict(spec)}
