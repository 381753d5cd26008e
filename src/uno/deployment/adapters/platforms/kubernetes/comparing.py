"""What a deploy would change in the cluster: each manifest's server-side dry run beside the object live now.

A deploy puts a release on the colour that takes no traffic and then switches the traffic
to it, so once it is done the release's objects are the *serving* colour's. A diff
therefore compares the release, rendered for the colour that serves now (for the free
colour when none does), with the live objects of that colour and the shared ones (the
Service ``<app>``, the NetworkPolicy, the Ingress): what the application would look like
after the deploy against what it looks like now. Which colour carries it is bookkeeping.

Each manifest is sent as a server-side apply with ``dryRun=All`` (nothing is stored): the
API server answers with the object as it would hold it, defaults filled in, so a field the
server defaults is no difference. Both sides are then cleaned of what the platform and
the driver's own bookkeeping fill in (``status``, ``managedFields``, ``resourceVersion``,
``uid``, ``creationTimestamp``, ``generation``, the deployment-id, weights and retire-at
annotations, the controller's revision annotation). Objects a deploy would delete (the
colour's PodDisruptionBudget at one replica, its HorizontalPodAutoscaler without
autoscaling) are listed with nothing wanted.

Reads only, and only objects uno-deploy owns: another tool's object of the same name is
the ``CONFLICT`` a deploy would meet (``Cluster.owned``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from uno.deployment.adapters.platforms.kubernetes import manifests, reading
from uno.deployment.adapters.platforms.kubernetes.cluster import Cluster
from uno.deployment.adapters.platforms.kubernetes.options import KubeOptions
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import LiveObject

FILLED_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")
BOOKKEEPING = (
    manifests.DEPLOYMENT_ID,
    manifests.RETIRE_AT,
    manifests.WEIGHTS,
    manifests.TRAFFIC,
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)


def compared_slot(service: Mapping[str, Any] | None, deployments: list[dict[str, Any]]) -> str:
    """The colour a release is compared with: the one taking the most traffic, else one taking none."""
    weights = reading.weights(service, deployments)
    by_name = {item["metadata"]["name"]: item for item in deployments}
    serving = [(weight, name) for name, weight in weights.items() if weight > 0 and name in by_name]
    if serving:
        return reading.slot_of(by_name[max(serving)[1]])
    existing = {reading.slot_of(item) for item in deployments}
    return next((slot for slot in manifests.SLOTS if slot not in existing), manifests.SLOTS[0])


def release_objects(
    config: DeploymentConfig, chosen: KubeOptions, slot: str, deployment_id: str
) -> list[dict[str, Any]]:
    """What the application runs once a deploy of ``config`` to ``slot`` serves: its manifests and autoscaler."""
    objects = manifests.release(
        config, chosen, slot=slot, replicas=config.resources.replicas_min, deployment_id=deployment_id
    )
    scaling = manifests.autoscaling(config)
    if scaling is not None:
        objects.append(manifests.autoscaler(config.app_name, config.environment.value, chosen.namespace, slot, scaling))
    return objects


def removed_kinds(config: DeploymentConfig) -> list[str]:
    """The colour's objects a deploy deletes when the configuration no longer asks for them."""
    kinds = []
    if config.resources.replicas_min <= 1:
        kinds.append("PodDisruptionBudget")
    if manifests.autoscaling(config) is None:
        kinds.append("HorizontalPodAutoscaler")
    return kinds


async def live_objects(
    cluster: Cluster, config: DeploymentConfig, chosen: KubeOptions, deployment_id: str
) -> list[LiveObject]:
    """Each object of the release, dry-run applied and live, cleaned; and those a deploy would delete."""
    app, environment, namespace = config.app_name, config.environment.value, chosen.namespace
    owner = manifests.owner(app, environment)
    service = await cluster.owned("Service", namespace, app, owner)
    deployments = await cluster.select("Deployment", namespace, manifests.app_selector(app, environment))
    slot = compared_slot(service, deployments)
    running = next((item for item in deployments if reading.slot_of(item) == slot), None)
    # the release it runs keeps its id: a deploy's id is bookkeeping, not a change of what runs
    deployment_id = (
        reading.annotations_of(running).get(manifests.DEPLOYMENT_ID, deployment_id) if running else deployment_id
    )
    note = f"compared with the {slot} colour" + (" (serving now)" if _serves(service, deployments, slot) else "")
    found = []
    for manifest in release_objects(config, chosen, slot, deployment_id):
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        live = await cluster.owned(kind, namespace, name, owner)
        wanted = await cluster.dry_run_apply(manifest)
        found.append(LiveObject(kind, name, cleaned(wanted), cleaned(live) if live else None, note=note))
    name = manifests.deployment_name(app, slot)
    for kind in removed_kinds(config):
        live = await cluster.owned(kind, namespace, name, owner)
        if live is not None:
            found.append(LiveObject(kind, name, None, cleaned(live), note="a deploy deletes it"))
    return found


def cleaned(found: Mapping[str, Any]) -> dict[str, Any]:
    """The object without what the platform fills in and the driver's bookkeeping (see the module's doc)."""
    item = copy.deepcopy(dict(found))
    item.pop("status", None)
    metadata = item.get("metadata") or {}
    for key in FILLED_METADATA:
        metadata.pop(key, None)
    annotations = {key: value for key, value in (metadata.get("annotations") or {}).items() if key not in BOOKKEEPING}
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return item


def _serves(service: Mapping[str, Any] | None, deployments: list[dict[str, Any]], slot: str) -> bool:
    weights = reading.weights(service, deployments)
    return any(weights.get(item["metadata"]["name"], 0) > 0 and reading.slot_of(item) == slot for item in deployments)
