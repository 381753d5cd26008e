"""The Google Cloud Run platform's settings, read from a configuration's ``custom_settings``.

Keys (clients depend on them). Required: ``project`` (the Google Cloud project id),
``region`` (where the service runs, e.g. ``europe-west1``) and ``image`` (the container
image: Artifact Registry, or any registry Cloud Run can pull). Optional: ``container_port``
(default 8080), ``service_account`` (the e-mail of the identity the revisions run as;
default: the project's Compute Engine default service account), ``service`` (the Cloud Run
service's name; default ``<app>-<environment>``), ``ingress`` (``all``, the default,
``internal`` or ``internal-and-cloud-load-balancing``) and ``secret_refs`` (secret name ->
the Secret Manager secret Cloud Run reads it from, ``projects/<p>/secrets/<s>`` with an
optional ``/versions/<v>``, default version ``latest``: every name in ``secrets`` needs one).

Nothing here imports the Google SDK: the settings are checked the same way whether or not
the extra is installed. Credentials are never settings: they come from Application
Default Credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+\d{1,2}$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
_ACCOUNT = re.compile(
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com$|^\d+-compute@developer\.gserviceaccount\.com$"
)
_SERVICE = re.compile(r"^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$")
_SECRET = re.compile(r"^projects/[A-Za-z0-9-]+/secrets/[A-Za-z0-9_-]{1,255}(?:/versions/(?:latest|[1-9]\d*))?$")
INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}

KEYS = frozenset(
    {"project", "region", "image", "container_port", "service_account", "service", "ingress", "secret_refs"}
)


@dataclass(frozen=True, slots=True)
class GcpOptions:
    project: str
    region: str
    image: str
    service: str
    container_port: int = 8080
    service_account: str | None = None
    ingress: str = "all"
    secret_refs: tuple[tuple[str, str], ...] = ()

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def service_path(self) -> str:
        return f"{self.parent}/services/{self.service}"


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def service_name(config: DeploymentConfig) -> str:
    """``<app>-<environment>`` in Cloud Run's alphabet (lower case, digits, ``-``; at most 49 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{config.app_name}-{config.environment.value}".lower())
    name = re.sub(r"^[^a-z]+", "", name)[:49].rstrip("-")
    return name or "app"


def options_for(config: DeploymentConfig) -> Result[GcpOptions]:
    settings: dict[str, Any] = config.custom_settings
    unknown = sorted(key for key in settings if key.startswith(("gcp_", "google_")))
    if unknown:
        return _problem(unknown[0], "is not a gcp setting (credentials come from Application Default Credentials)")
    found: dict[str, Any] = {}
    required = {
        "project": (_PROJECT, "a Google Cloud project id (6 to 30 characters: lower case letters, digits, -)"),
        "region": (_REGION, "a Cloud Run region such as europe-west1"),
        "image": (
            _IMAGE,
            "a container image reference (example: europe-west1-docker.pkg.dev/my-project/apps/shop:1.2)",
        ),
    }
    for key, (pattern, what) in required.items():
        value = settings.get(key)
        if value is None:
            return _problem(key, f"the gcp platform needs '{key}': {what}")
        if not isinstance(value, str) or not pattern.match(value):
            return _problem(key, f"must be {what}")
        found[key] = value
    port = settings.get("container_port", 8080)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return _problem("container_port", "must be a whole number from 1 to 65535")
    found["container_port"] = port
    account = settings.get("service_account")
    if account is not None and (not isinstance(account, str) or not _ACCOUNT.match(account)):
        return _problem("service_account", "must be a service account e-mail (name@project.iam.gserviceaccount.com)")
    found["service_account"] = account
    service = settings.get("service", service_name(config))
    if not isinstance(service, str) or not _SERVICE.match(service):
        return _problem("service", "must be a Cloud Run service name: a lower case letter, then up to 48 of a-z 0-9 -")
    found["service"] = service
    ingress = settings.get("ingress", "all")
    if ingress not in INGRESS:
        return _problem("ingress", "must be one of " + ", ".join(INGRESS))
    found["ingress"] = ingress
    refs = _secret_refs(config, settings)
    if isinstance(refs, Failure):
        return refs
    found["secret_refs"] = refs.value
    return Success(GcpOptions(**found))


def _secret_refs(config: DeploymentConfig, settings: dict[str, Any]) -> Result[tuple[tuple[str, str], ...]]:
    given = settings.get("secret_refs", {})
    if not isinstance(given, dict):
        return _problem("secret_refs", "must map each secret's name to the Secret Manager secret Cloud Run reads")
    for name, ref in given.items():
        if not isinstance(ref, str) or not _SECRET.match(ref):
            return _problem(
                f"secret_refs.{name}", "must be a Secret Manager secret: projects/<p>/secrets/<s>[/versions/<v>]"
            )
    for name in secret_names(config):
        if name not in given:
            message = f"the secret {name} needs a Secret Manager secret here: Cloud Run reads it there, never a value"
            return _problem(f"secret_refs.{name}", message)
    return Success(tuple(sorted(given.items())))


def secret_names(config: DeploymentConfig) -> list[str]:
    """What the container reads from secrets: the configuration's secrets and the database password's variable."""
    database = config.database
    names = list(config.secrets)
    if database is not None and database.engine != "sqlite" and database.password_env_var:
        names += [] if database.password_env_var in names else [database.password_env_var]
    return names
