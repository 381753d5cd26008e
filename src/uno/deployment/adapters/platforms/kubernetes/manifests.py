"""The manifests of one release, as plain data: what ``render`` shows and the driver applies.

Per application and environment, in one namespace:

- two Deployment *colours*, ``<app>-blue`` and ``<app>-green``: each is one version set.
  A release goes to the colour that takes no traffic, whatever the strategy, so the
  serving colour is never changed in place (its pod template is only ever replaced by a
  later release, once it has stopped serving);
- one Service ``<app>``, whose selector picks the colour that takes the traffic, or both
  colours while a canary or a rolling deploy splits it (then by replica ratio);
- per colour, a PodDisruptionBudget (more than one replica) and, once the colour serves
  all traffic, a HorizontalPodAutoscaler (``auto_scaling``);
- shared by the colours: a NetworkPolicy (``enable_network_policy``: only the container
  port is reachable) and an Ingress (``network.domain``, with TLS when ``use_https``).

With ``traffic: ingress-nginx`` a split is made by ingress-nginx instead, with exact
weights: each colour also has a Service of its own (``<app>-blue``, ``<app>-green``), the
Ingress ``<app>`` sends the traffic to the serving colour's Service, and during a split a
second Ingress ``<app>-canary`` for the same host sends ``canary-weight`` percent of it to
the other colour's Service (``canary_ingress``). The Service ``<app>`` then always selects
one colour (the main Ingress's), for clients inside the cluster.

Secrets are referenced by name (``secretKeyRef`` into one Secret), never inlined; the
database password too (key ``database.password_env_var``), which Kubernetes puts into
``DATABASE_URL`` itself (``$(NAME)``). Rendering
is pure and deterministic: the same release always gives the same manifests, which is what
a rollback re-applies.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from uno.deployment.adapters.platforms.kubernetes.options import KubeOptions
from uno.deployment.domain import connections
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentStrategy

FIELD_MANAGER = "uno-deploy"
PREFIX = "uno-deploy.io"
SLOTS = ("blue", "green")
NAME = "app.kubernetes.io/name"
VERSION = "app.kubernetes.io/version"
ENVIRONMENT = f"{PREFIX}/environment"
SLOT = f"{PREFIX}/slot"
DEPLOYMENT_ID = f"{PREFIX}/deployment-id"
APP_VERSION = f"{PREFIX}/version"
REPLICAS = f"{PREFIX}/replicas"  # the size the strategy asked for (a split may run fewer for a while)
AUTOSCALING = f"{PREFIX}/autoscaling"  # the autoscaler to apply once this colour serves all traffic
RETIRE_AT = f"{PREFIX}/retire-at"
WEIGHTS = f"{PREFIX}/weights"  # on the Service: the weights last set
TRAFFIC = f"{PREFIX}/traffic"  # on the Service: "ingress-nginx" when WEIGHTS were set through the Ingresses
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
SERVICE_PORT = 80
_LABEL_VALUE_INVALID = re.compile(r"[^A-Za-z0-9._-]")


def deployment_name(app: str, slot: str) -> str:
    return f"{app}-{slot}"


def canary_ingress_name(app: str) -> str:
    return f"{app}-canary"


def app_selector(app: str, environment: str) -> dict[str, str]:
    """What every pod of the application in this environment carries (both colours)."""
    return {NAME: app, ENVIRONMENT: environment}


def owner(app: str, environment: str) -> dict[str, str]:
    """The labels every object of the application in this environment carries: only those are touched."""
    return {**app_selector(app, environment), "app.kubernetes.io/managed-by": FIELD_MANAGER}


def slot_selector(app: str, environment: str, slot: str) -> dict[str, str]:
    return {**app_selector(app, environment), SLOT: slot}


def label_value(text: str) -> str:
    """``text`` as a label value: at most 63 of the allowed characters, alphanumeric at both ends."""
    return _LABEL_VALUE_INVALID.sub("_", text)[:63].strip("._-") or "unknown"


def _labels(config: DeploymentConfig) -> dict[str, str]:
    return {
        **app_selector(config.app_name, config.environment.value),
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
    }


def _metadata(name: str, namespace: str, labels: Mapping[str, str], **annotations: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def release(
    config: DeploymentConfig, options: KubeOptions, *, slot: str, replicas: int, deployment_id: str
) -> list[dict[str, Any]]:
    """Everything deploying ``config`` to ``slot`` applies, in apply order (shared objects first)."""
    manifests = [service(config, options, serving=slot)]
    if config.security.enable_network_policy:
        manifests.append(network_policy(config, options))
    if config.network.domain:
        backend = deployment_name(config.app_name, slot) if options.exact_weights else config.app_name
        manifests.append(ingress(config, options, backend=backend))
    manifests.extend(version_set(config, options, slot=slot, replicas=replicas, deployment_id=deployment_id))
    return manifests


def version_set(
    config: DeploymentConfig, options: KubeOptions, *, slot: str, replicas: int, deployment_id: str
) -> list[dict[str, Any]]:
    """The objects of one colour: its Deployment, its PodDisruptionBudget past one replica, its
    Service when ingress-nginx splits the traffic."""
    objects = [deployment(config, options, slot=slot, replicas=replicas, deployment_id=deployment_id)]
    if config.resources.replicas_min > 1:
        objects.append(disruption_budget(config, options, slot))
    if options.exact_weights:
        objects.append(colour_service(config.app_name, config.environment.value, options.namespace, slot))
    return objects


def deployment(
    config: DeploymentConfig, options: KubeOptions, *, slot: str, replicas: int, deployment_id: str
) -> dict[str, Any]:
    app, environment = config.app_name, config.environment.value
    labels = {**_labels(config), SLOT: slot, VERSION: label_value(config.app_version)}
    annotations = {DEPLOYMENT_ID: deployment_id, APP_VERSION: config.app_version, REPLICAS: str(replicas)}
    scaling = autoscaling(config)
    if scaling is not None:
        annotations[AUTOSCALING] = json.dumps(scaling, sort_keys=True)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(deployment_name(app, slot), options.namespace, labels, **annotations),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": options.progress_deadline_seconds,
            "selector": {"matchLabels": slot_selector(app, environment, slot)},
            "strategy": _update_strategy(config),
            "template": {
                "metadata": {"labels": labels, "annotations": {DEPLOYMENT_ID: deployment_id}},
                "spec": _pod_spec(config, options),
            },
        },
    }


def _update_strategy(config: DeploymentConfig) -> dict[str, Any]:
    """How Kubernetes replaces the pods of one colour when a release is applied to it."""
    if config.strategy is DeploymentStrategy.RECREATE:
        return {"type": "Recreate"}
    rolling = config.custom_settings.get("rolling", {})
    rolling = rolling if isinstance(rolling, dict) else {}
    surge, unavailable = rolling.get("max_surge", 1), rolling.get("max_unavailable", 0)
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {
            "maxSurge": surge if isinstance(surge, int) and not isinstance(surge, bool) else 1,
            "maxUnavailable": unavailable if isinstance(unavailable, int) and not isinstance(unavailable, bool) else 0,
        },
    }


def _pod_spec(config: DeploymentConfig, options: KubeOptions) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": config.app_name,
        "image": options.image,
        "ports": [{"name": "http", "containerPort": options.container_port, "protocol": "TCP"}],
        "env": _environment(config, options),
        "resources": {
            "requests": {"cpu": config.resources.cpu_min, "memory": config.resources.memory_min},
            "limits": {"cpu": config.resources.cpu_max, "memory": config.resources.memory_max},
        },
        "readinessProbe": _probe(options, period=5, failures=3),
        "livenessProbe": {**_probe(options, period=10, failures=3), "initialDelaySeconds": 10},
    }
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": options.termination_grace_seconds}
    security = config.security
    if security.run_as_non_root:
        spec["securityContext"] = {"runAsNonRoot": True}
    if security.read_only_root_filesystem:
        container["securityContext"] = {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
        container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
        spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    spec["containers"] = [container]
    return spec


def _probe(options: KubeOptions, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": options.health_path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def secret_name(config: DeploymentConfig, options: KubeOptions) -> str:
    return options.secret_name or f"{config.app_name}-secrets"


def _environment(config: DeploymentConfig, options: KubeOptions) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [
        {"name": name, "value": value} for name, value in sorted(config.environment_variables.items())
    ]
    variables.append({"name": "APP_VERSION", "value": config.app_version})
    variables.append({"name": "PORT", "value": str(options.container_port)})
    secret = secret_name(config, options)
    variables.extend(_from_secret(secret, name) for name in config.secrets)
    if config.database is not None:
        variables.extend(_database_environment(config, secret))
    return variables


def _from_secret(secret: str, name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}


def secret_keys(config: DeploymentConfig) -> list[str]:
    """The keys the Secret must hold: the configuration's secrets and the database password's variable."""
    database = config.database
    if database is None or database.engine == "sqlite" or not database.password_env_var:
        return list(config.secrets)
    password = database.password_env_var
    return [*config.secrets, *([] if password in config.secrets else [password])]


def _database_environment(config: DeploymentConfig, secret: str) -> list[dict[str, Any]]:
    """DATABASE_POOL_MIN/MAX, and DATABASE_URL with the password put in by Kubernetes from the Secret.

    ``$(NAME)`` in a value is replaced by the variable defined before it: the password never
    appears in a manifest (it must be URL-safe, as Kubernetes inserts it as it is).
    """
    database = config.database
    assert database is not None
    pool = [{"name": name, "value": value} for name, value in connections.pool_environment(database).items()]
    name = database.password_env_var
    if not name or database.engine == "sqlite":
        return [*pool, {"name": connections.URL_VARIABLE, "value": connections.url_with(database, "")}]
    reference = [] if name in config.secrets else [_from_secret(secret, name)]
    url = connections.url_with(database, f"$({name})")
    return [*pool, *reference, {"name": connections.URL_VARIABLE, "value": url}]


def service(config: DeploymentConfig, options: KubeOptions, *, serving: str | None) -> dict[str, Any]:
    """The stable Service; ``serving`` is the colour it sends traffic to (None: both, by replicas)."""
    app, environment = config.app_name, config.environment.value
    selector = app_selector(app, environment) if serving is None else slot_selector(app, environment, serving)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(app, options.namespace, _labels(config)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def colour_service(app: str, environment: str, namespace: str, slot: str) -> dict[str, Any]:
    """The Service of one colour (``<app>-<colour>``): what the Ingresses send traffic to (ingress-nginx)."""
    labels = {**app_selector(app, environment), "app.kubernetes.io/managed-by": FIELD_MANAGER, SLOT: slot}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(deployment_name(app, slot), namespace, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": slot_selector(app, environment, slot),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(config: DeploymentConfig, options: KubeOptions, slot: str) -> dict[str, Any]:
    app, environment = config.app_name, config.environment.value
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(deployment_name(app, slot), options.namespace, {**_labels(config), SLOT: slot}),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": slot_selector(app, environment, slot)}},
    }


def autoscaling(config: DeploymentConfig) -> dict[str, int] | None:
    resources = config.resources
    if not resources.auto_scaling:
        return None
    return {
        "min": resources.replicas_min,
        "max": resources.replicas_max,
        "cpu": resources.auto_scaling_cpu_threshold,
    }


def autoscaler(app: str, environment: str, namespace: str, slot: str, scaling: Mapping[str, int]) -> dict[str, Any]:
    """The HorizontalPodAutoscaler of a colour that serves all traffic (``scaling`` from ``autoscaling``)."""
    name = deployment_name(app, slot)
    labels = {**app_selector(app, environment), "app.kubernetes.io/managed-by": FIELD_MANAGER, SLOT: slot}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scaling["min"],
            "maxReplicas": scaling["max"],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scaling["cpu"]},
                    },
                }
            ],
        },
    }


def network_policy(config: DeploymentConfig, options: KubeOptions) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(config.app_name, options.namespace, _labels(config)),
        "spec": {
            "podSelector": {"matchLabels": app_selector(config.app_name, config.environment.value)},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": options.container_port}]}],
        },
    }


def ingress(config: DeploymentConfig, options: KubeOptions, *, backend: str | None = None) -> dict[str, Any]:
    """The Ingress of ``network.domain``, to the Service ``backend`` (default: ``<app>``)."""
    domain = config.network.domain
    spec: dict[str, Any] = {"rules": [{"host": domain, "http": {"paths": [_path(backend or config.app_name)]}}]}
    if options.ingress_class:
        spec = {"ingressClassName": options.ingress_class, **spec}
    if config.network.use_https:
        spec["tls"] = [{"hosts": [domain], "secretName": f"{config.app_name}-tls"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(config.app_name, options.namespace, _labels(config)),
        "spec": spec,
    }


def _path(service_name: str) -> dict[str, Any]:
    backend = {"service": {"name": service_name, "port": {"name": "http"}}}
    return {"path": "/", "pathType": "Prefix", "backend": backend}


def ingress_backend(found: Mapping[str, Any]) -> str | None:
    """The Service an Ingress sends its traffic to (its first rule's first path)."""
    try:
        name = found["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(name)


def with_backend(found: Mapping[str, Any], service_name: str) -> list[dict[str, Any]]:
    """The Ingress's rules with every path sent to the Service ``service_name``."""
    return [
        {**rule, "http": {"paths": [_path(service_name) for _ in rule.get("http", {}).get("paths", [])]}}
        for rule in found["spec"].get("rules", [])
    ]


def canary_ingress(main: Mapping[str, Any], service_name: str, weight: int) -> dict[str, Any]:
    """The ingress-nginx canary beside the Ingress ``main``: its host and TLS, ``weight`` percent to ``service_name``.

    ``main`` may be the rendered Ingress or the one read from the cluster: only its name,
    namespace, our labels and its spec's class, rules and TLS are used.
    """
    metadata = main["metadata"]
    spec: dict[str, Any] = {}
    if main["spec"].get("ingressClassName"):
        spec["ingressClassName"] = main["spec"]["ingressClassName"]
    spec["rules"] = with_backend(main, service_name)
    if main["spec"].get("tls"):
        spec["tls"] = copy.deepcopy(main["spec"]["tls"])
    labels = {key: value for key, value in (metadata.get("labels") or {}).items() if key != SLOT}
    annotations = {NGINX_CANARY: "true", NGINX_CANARY_WEIGHT: str(weight)}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(canary_ingress_name(metadata["name"]), metadata["namespace"], labels, **annotations),
        "spec": spec,
    }
