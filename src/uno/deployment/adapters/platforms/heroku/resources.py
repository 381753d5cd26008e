"""The Heroku Platform API request bodies a deploy sends, built from a configuration (pure data).

The driver sends exactly these (``driver``), ``render`` prints them (``rendering``), and
the tests validate them against each link's ``schema`` in Heroku's own JSON hyper-schema.

Identity lives on Heroku, so it survives restarts: a build made by uno-deploy carries
``uno:<deployment id>:<app version>`` as its ``source_blob.version`` (a free string Heroku
keeps on the build), and every release that runs its slug (the build's own, a config
change's, a rollback's) is traced back to it through the slug id. The config vars the
driver set are listed in ``UNO_DEPLOY_MANAGED`` so that a variable removed from the
configuration is unset, and a variable the driver never set is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno.deployment.adapters.platforms.heroku.options import HerokuOptions, secret_names
from uno.deployment.domain import connections
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentStrategy

VERSION_PREFIX = "uno:"
MANAGED = "UNO_DEPLOY_MANAGED"
"""The config var naming (comma-separated) the config vars this driver set."""


def build_version(deployment_id: str, app_version: str) -> str:
    return f"{VERSION_PREFIX}{deployment_id}:{app_version}"


def parse_build_version(text: str | None) -> tuple[str, str] | None:
    """(deployment id, app version) of a build uno-deploy made; None for any other build."""
    if not text or not text.startswith(VERSION_PREFIX):
        return None
    deployment_id, _, version = text[len(VERSION_PREFIX) :].partition(":")
    return (deployment_id, version) if deployment_id and version else None


def plain_vars(config: DeploymentConfig) -> dict[str, str]:
    """The config vars whose values the configuration holds (no secret among them)."""
    variables = dict(sorted(config.environment_variables.items()))
    variables["APP_VERSION"] = config.app_version
    database = config.database
    if database is not None:
        variables.update(connections.pool_environment(database))
        variables[connections.URL_VARIABLE] = connections.url_with(database, "")
    return variables


def config_vars(config: DeploymentConfig, secrets: Mapping[str, str], live: Mapping[str, str | None]) -> dict[str, Any]:
    """``PATCH /apps/{app}/config-vars``: what changes against ``live`` (secrets from the deployer's environment).

    Only changed values are sent (each change makes a release on Heroku); a variable this
    driver set earlier (``MANAGED``) and the configuration no longer has is unset (``null``).
    """
    wanted: dict[str, str] = {**plain_vars(config), **{name: secrets[name] for name in secret_names(config)}}
    wanted[MANAGED] = ",".join(sorted(wanted))
    before = {name for name in str(live.get(MANAGED) or "").split(",") if name}
    body: dict[str, Any] = {name: value for name, value in wanted.items() if live.get(name) != value}
    body.update({name: None for name in sorted(before - set(wanted)) if name in live})
    return body


def preboot(enabled: bool) -> dict[str, Any]:
    """``PATCH /apps/{app}/features/preboot``."""
    return {"enabled": enabled}


def formation(chosen: HerokuOptions, quantity: int) -> dict[str, Any]:
    """``PATCH /apps/{app}/formation``: the process type's dyno count and size."""
    return {"updates": [{"type": chosen.process_type, "quantity": quantity, "size": chosen.size}]}


def build(source_url: str, deployment_id: str, app_version: str) -> dict[str, Any]:
    """``POST /apps/{app}/builds``: build the uploaded tarball, tagged with the deployment."""
    return {"source_blob": {"url": source_url, "version": build_version(deployment_id, app_version)}}


def rollback(release_id: str) -> dict[str, Any]:
    """``POST /apps/{app}/releases``: a new release running ``release_id``'s slug and config again."""
    return {"release": release_id}


def uses_preboot(config: DeploymentConfig) -> bool:
    """Blue-green and rolling start the new dynos beside the old ones (preboot); recreate does not."""
    return config.strategy in {DeploymentStrategy.BLUE_GREEN, DeploymentStrategy.ROLLING}
