"""The Cloud Run Admin API v2 request bodies the gcp driver sends: pure data, no network.

``render`` shows exactly these bodies and the driver sends exactly these (it builds its
requests here and nowhere else): a ``Service`` resource as ``services.create`` and
``services.patch`` of ``run.googleapis.com/v2`` take it. Tests check each body against the
API's discovery document.

Model: one Cloud Run service per application and environment (``options.service``); a
version set is one of its revisions, named explicitly ``<service>-<version>-<short id>``
(Cloud Run's alphabet, at most 63 characters), with a traffic tag ``v<version>-<short id>`` (``tag``)
for direct testing (``https://<tag>---<service>-....run.app``). A revision is immutable:
its size (min and max instances), image, environment and limits are fixed when it is made.

Identity: labels (Cloud Run's alphabet) mark what the driver made, on the service and on
each revision template: ``managed-by=uno-deployment``, ``uno-app``, ``uno-environment``,
``uno-version``, ``uno-deployment-id``. Labels cannot hold every version string (``1.2.0``
has dots), so the exact values are also annotations ``uno-deployment/<key>``. The rollback
window's end of each revision kept warm is in the service annotation ``uno-deployment/retire`` (JSON).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from uno.deployment.adapters.platforms.gcp.options import INGRESS, GcpOptions, secret_names
from uno.deployment.domain import connections, quantities
from uno.deployment.domain.configs import DeploymentConfig

MANAGED_BY, MANAGER = "managed-by", "uno-deployment"
APP, ENVIRONMENT, VERSION, DEPLOYMENT_ID = "uno-app", "uno-environment", "uno-version", "uno-deployment-id"
NOTE = "uno-deployment/"  # annotation prefix: exact identity values, rollback windows
RETIRE = NOTE + "retire"  # JSON: revision -> the end of its rollback window (ISO time)
CONTAINER = "app"
TAG_AND_SERVICE = 46  # a traffic tag and the service's name, together
CPUS = (Decimal(1), Decimal(2), Decimal(4), Decimal(6), Decimal(8))
LEAST_MEMORY_MIB, MOST_MEMORY_MIB = 128, 32768
# Cloud Run's CPU/memory pairs: memory above a bound needs at least that many CPUs, and CPUs need memory
MEMORY_NEEDS_CPU = ((4096, 2), (8192, 4), (16384, 6))  # MiB above -> CPUs at least
CPU_NEEDS_MEMORY = {4: 2048, 6: 4096, 8: 4096}  # CPUs -> MiB at least
_MIB = Decimal(1024 * 1024)


class SizeError(ValueError):
    """Resources Cloud Run has no size for."""


def _label(text: str) -> str:
    """A label value: at most 63 of lower case letters, digits, ``-`` and ``_``."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def short_id(deployment_id: str) -> str:
    return re.sub(r"[^a-z0-9]", "", deployment_id.lower().removeprefix("dep"))[-8:] or "pending"


def revision_name(chosen: GcpOptions, config: DeploymentConfig, deployment_id: str) -> str:
    """``<service>-<version>-<short id>``: Cloud Run's rule is the service name, ``-``, then a suffix."""
    suffix = f"{re.sub(r'[^a-z0-9]+', '-', config.app_version.lower()).strip('-')}-{short_id(deployment_id)}"
    room = 63 - len(chosen.service) - 1
    return f"{chosen.service}-{suffix[-room:].lstrip('-')}"


def tag(config: DeploymentConfig, deployment_id: str, service: str) -> str | None:
    """``v<version>-<short id>``, cut so that it and the service's name take at most 46 characters.

    Cloud Run's rule: the tag's URL ``<tag>---<service>-<hash>-<region>.a.run.app`` starts
    with one DNS label (63 characters). A service name too long to leave room gets no tag.
    """
    room = TAG_AND_SERVICE - len(service)
    short = short_id(deployment_id)
    if room < len(short) + 2:
        return None
    version = re.sub(r"[^a-z0-9]+", "-", config.app_version.lower()).strip("-")
    head = f"v{version}"[: room - len(short) - 1].rstrip("-")
    return f"{head}-{short}"


def tags(config: DeploymentConfig, deployment_id: str, service: str, revision: str) -> dict[str, str]:
    """The release's revision -> its tag (none when the service's name leaves no room)."""
    found = tag(config, deployment_id, service)
    return {revision: found} if found else {}


def identity(config: DeploymentConfig, deployment_id: str) -> dict[str, str]:
    return {
        APP: config.app_name,
        ENVIRONMENT: config.environment.value,
        VERSION: config.app_version,
        DEPLOYMENT_ID: deployment_id,
    }


def labels(config: DeploymentConfig, deployment_id: str | None) -> dict[str, str]:
    found = {MANAGED_BY: MANAGER, APP: _label(config.app_name), ENVIRONMENT: _label(config.environment.value)}
    if deployment_id is not None:
        found |= {VERSION: _label(config.app_version), DEPLOYMENT_ID: _label(deployment_id)}
    return found


def size(config: DeploymentConfig) -> tuple[str, str]:
    """Cloud Run's (cpu, memory) limits: the smallest allowed holding ``cpu_max`` and ``memory_max``."""
    wanted_cpu = quantities.parse_cpu(config.resources.cpu_max)
    memory = max(LEAST_MEMORY_MIB, math.ceil(quantities.parse_memory(config.resources.memory_max) / _MIB))
    if memory > MOST_MEMORY_MIB:
        raise SizeError(f"memory_max {config.resources.memory_max} is above Cloud Run's 32Gi per instance")
    cpus = [cpu for cpu in CPUS if cpu >= wanted_cpu]
    if not cpus:
        raise SizeError(f"cpu_max {config.resources.cpu_max} is above Cloud Run's 8 CPUs per instance")
    cpu = int(cpus[0])
    for above, least in MEMORY_NEEDS_CPU:
        if memory > above:
            cpu = max(cpu, least)
    memory = max(memory, CPU_NEEDS_MEMORY.get(cpu, 0))
    return str(cpu), f"{memory}Mi"


def instances(config: DeploymentConfig) -> tuple[int, int]:
    """(min, max) instances: ``replicas_min`` always; up to ``replicas_max`` with auto_scaling, else exactly min."""
    resources = config.resources
    high = resources.replicas_max if resources.auto_scaling else resources.replicas_min
    return resources.replicas_min, max(high, resources.replicas_min)


def template(config: DeploymentConfig, chosen: GcpOptions, deployment_id: str) -> dict[str, Any]:
    """The ``RevisionTemplate`` of this release's revision."""
    low, high = instances(config)
    cpu, memory = size(config)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": chosen.image,
        "ports": [{"name": "http1", "containerPort": chosen.container_port}],
        "env": _environment(config, chosen),
        "resources": {"limits": {"cpu": cpu, "memory": memory}},
        "startupProbe": {
            "httpGet": {"path": config.network.health_check_path, "port": chosen.container_port},
            "periodSeconds": 5,
            "failureThreshold": 24,
            "timeoutSeconds": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": config.network.health_check_path, "port": chosen.container_port},
            "periodSeconds": 15,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
    }
    body: dict[str, Any] = {
        "revision": revision_name(chosen, config, deployment_id),
        "labels": labels(config, deployment_id),
        "annotations": {NOTE + key: value for key, value in identity(config, deployment_id).items()},
        "scaling": {"minInstanceCount": low, "maxInstanceCount": high},
        "containers": [container],
    }
    if chosen.service_account:
        body["serviceAccount"] = chosen.service_account
    return body


def _environment(config: DeploymentConfig, chosen: GcpOptions) -> list[dict[str, Any]]:
    """Plain variables, then each secret as a Secret Manager reference (never a value).

    ``PORT`` is Cloud Run's own (it sets it to the container port). Cloud Run cannot splice
    a secret into another variable, so DATABASE_URL has no password: the password is its
    own variable (``database.password_env_var``), read from its secret.
    """
    variables = dict(sorted(config.environment_variables.items()))
    variables.pop("PORT", None)
    variables["APP_VERSION"] = config.app_version
    database = config.database
    if database is not None:
        variables.update(connections.pool_environment(database))
        variables[connections.URL_VARIABLE] = connections.url_with(database, "")
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in variables.items()]
    refs = dict(chosen.secret_refs)
    for name in secret_names(config):
        secret, _, version = refs[name].partition("/versions/")
        env.append({"name": name, "valueSource": {"secretKeyRef": {"secret": secret, "version": version or "latest"}}})
    return env


def traffic(weights: Mapping[str, int], tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """``Service.traffic``: each revision with its percent (they sum to 100), and a tag for every revision."""
    entries = []
    for revision in sorted(set(weights) | set(tags)):
        entry: dict[str, Any] = {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision}
        if weights.get(revision, 0) > 0:
            entry["percent"] = weights[revision]
        if revision in tags:
            entry["tag"] = tags[revision]
        entries.append(entry)
    return entries


def service(
    config: DeploymentConfig,
    chosen: GcpOptions,
    deployment_id: str,
    weights: Mapping[str, int],
    tags: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``Service`` as ``services.create``/``services.patch`` take it, with this release's revision template."""
    return {
        "labels": labels(config, None),
        "annotations": dict(annotations or {}),
        "ingress": INGRESS[chosen.ingress],
        "template": template(config, chosen, deployment_id),
        "traffic": traffic(weights, tags),
    }


def normalised(weights: Mapping[str, int]) -> dict[str, int]:
    """Positive weights summing to exactly 100, as Cloud Run requires (the largest absorbs rounding)."""
    positive = {name: int(weight) for name, weight in weights.items() if weight > 0}
    total = sum(positive.values())
    if not total:
        return {}
    shares = {name: math.floor(100 * weight / total) for name, weight in positive.items()}
    largest = max(shares, key=lambda name: (shares[name], name))
    shares[largest] += 100 - sum(shares.values())
    return {name: share for name, share in shares.items() if share > 0}
