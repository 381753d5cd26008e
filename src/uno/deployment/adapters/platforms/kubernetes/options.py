"""The Kubernetes platform's settings, read from a configuration's ``custom_settings``.

Keys (clients depend on them): ``image`` (the container image, required), ``namespace``
(default ``default``), ``kube_context`` (default: the
kubeconfig's current context), ``kubernetes_version`` (the API version manifests are
validated against, default ``1.37``), ``container_port`` (default 8080), ``health_path``
(default: ``network.health_check_path``). Also: ``secret_name`` (the Secret that holds the
config's ``secrets``, one key per name, default ``<app>-secrets``), ``ingress_class``,
``progress_deadline_seconds`` (default 600), ``termination_grace_seconds`` (default 30) and
``traffic``: how a split of traffic between the colours is made, ``replicas`` (the default:
by replica ratio behind the one Service) or ``ingress-nginx`` (exact weights through
ingress-nginx's canary annotations; needs ``network.domain``, the Ingress host).

Nothing here imports the Kubernetes client: the settings are checked the same way whether
or not the extra is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig

DEFAULT_KUBERNETES_VERSION = "1.37"
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_VERSION = re.compile(r"^v?1\.(\d{1,2})(?:\.\d+)?$")
# registry/path:tag@digest, loosely: no spaces, no upper case in the name, a tag or digest allowed
TRAFFIC_REPLICAS = "replicas"
TRAFFIC_INGRESS_NGINX = "ingress-nginx"
TRAFFIC_MODES = (TRAFFIC_REPLICAS, TRAFFIC_INGRESS_NGINX)
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")


@dataclass(frozen=True, slots=True)
class KubeOptions:
    image: str
    namespace: str = "default"
    kube_context: str | None = None
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    container_port: int = 8080
    health_path: str = "/health"
    secret_name: str | None = None  # None: "<app>-secrets"
    ingress_class: str | None = None
    progress_deadline_seconds: int = 600
    termination_grace_seconds: int = 30
    traffic: str = TRAFFIC_REPLICAS  # how a split is made: TRAFFIC_MODES

    @property
    def exact_weights(self) -> bool:
        """Splits go through ingress-nginx canary annotations, not replica ratio."""
        return self.traffic == TRAFFIC_INGRESS_NGINX


def _problem(key: str, message: str) -> Failure:
    return Failure(ErrorDetails.validation(f"custom_settings.{key}", message))


def options_for(config: DeploymentConfig) -> Result[KubeOptions]:
    settings: dict[str, Any] = config.custom_settings
    image = settings.get("image")
    if not isinstance(image, str) or not image:
        return _problem("image", "the kubernetes platform needs 'image': the container image to run (name:tag)")
    if not _IMAGE.match(image):
        return _problem("image", f"{image!r} is not a container image reference (example: ghcr.io/acme/shop:1.2.0)")
    names = _names(settings)
    if isinstance(names, Failure):
        return names
    version = settings.get("kubernetes_version", DEFAULT_KUBERNETES_VERSION)
    matched = _VERSION.match(version) if isinstance(version, str) else None
    if matched is None:
        return _problem("kubernetes_version", "must be a Kubernetes version such as 1.37")
    numbers = _numbers(settings)
    if isinstance(numbers, Failure):
        return numbers
    path = settings.get("health_path", config.network.health_check_path)
    if not isinstance(path, str) or not path.startswith("/") or any(char.isspace() for char in path):
        return _problem("health_path", "must be a URL path such as /healthz")
    traffic = settings.get("traffic", TRAFFIC_REPLICAS)
    if traffic not in TRAFFIC_MODES:
        return _problem("traffic", f'must be "{TRAFFIC_REPLICAS}" (the default) or "{TRAFFIC_INGRESS_NGINX}"')
    if traffic == TRAFFIC_INGRESS_NGINX and not config.network.domain:
        message = (
            f'"{TRAFFIC_INGRESS_NGINX}" routes through an Ingress: set network.domain (its host), '
            f'or use traffic "{TRAFFIC_REPLICAS}"'
        )
        return _problem("traffic", message)
    found, sizes = names.value, numbers.value
    return Success(
        KubeOptions(
            image=image,
            namespace=found.get("namespace", "default"),
            kube_context=found.get("kube_context"),
            kubernetes_version=f"1.{matched.group(1)}",
            container_port=sizes["container_port"],
            health_path=path,
            secret_name=found.get("secret_name"),
            ingress_class=found.get("ingress_class"),
            progress_deadline_seconds=sizes["progress_deadline_seconds"],
            termination_grace_seconds=sizes["termination_grace_seconds"],
            traffic=str(traffic),
        )
    )


def _names(settings: dict[str, Any]) -> Result[dict[str, str]]:
    found: dict[str, str] = {}
    rules = {
        "namespace": (_DNS_LABEL, "a namespace name (lowercase letters, digits and '-')"),
        "secret_name": (_DNS_SUBDOMAIN, "a Secret name (lowercase letters, digits, '-' and '.')"),
        "ingress_class": (_DNS_SUBDOMAIN, "an IngressClass name"),
    }
    for key, (pattern, what) in rules.items():
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not pattern.match(value):
            return _problem(key, f"must be {what}")
        found[key] = value
    context = settings.get("kube_context")
    if context is not None:
        if not isinstance(context, str) or not context.strip():
            return _problem("kube_context", "must be the name of a context in the kubeconfig")
        found["kube_context"] = context
    return Success(found)


def _numbers(settings: dict[str, Any]) -> Result[dict[str, int]]:
    limits = {
        "container_port": (1, 65535, 8080),
        "progress_deadline_seconds": (10, 86_400, 600),
        "termination_grace_seconds": (0, 3_600, 30),
    }
    found: dict[str, int] = {}
    for key, (low, high, default) in limits.items():
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return _problem(key, f"must be a whole number from {low} to {high}")
        found[key] = value
    return Success(found)
