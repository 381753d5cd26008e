"""Reading the cluster's objects as the platform model sees them: pure functions over API dicts.

- A version set is one colour's Deployment; its size is what the strategy asked for (the
  ``replicas`` annotation), which a traffic split may run below for a while.
- Its weight comes from the Service: the colour its selector names gets 100; with no colour
  in the selector (a split), the weights last set, kept in an annotation. When ingress-nginx
  routes (the Service's ``traffic`` annotation), the Service selects one colour even during a
  split, and the weights last set are the record.
- Its health is the Deployment's rollout: pods of the *current* template that are ready,
  against the desired size or the pods still running, whichever is more; the controller must
  have seen the latest change; a passed ``progressDeadlineSeconds`` is a failure, not a wait.
- It is *failing* (waiting cannot make it healthy) when every one of its pods has a container
  the kubelet keeps failing to run: a crash loop, an image it cannot pull, a missing Secret.
  One pod that may still make it is enough to keep waiting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from uno.deployment.adapters.platforms.kubernetes import manifests
from uno.deployment.ports.platforms import VersionHealth, VersionSet

NOTHING = "none"  # the Service's colour when nothing serves yet: it selects no pod
INGRESS_NGINX = "ingress-nginx"  # the Service's traffic annotation when ingress-nginx splits


FAILING_WAITS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
"""Why the kubelet keeps a container waiting when it has tried and will only try again the same way."""


@dataclass(frozen=True, slots=True)
class Failing:
    """A container that keeps failing: which, why, and whether it ran (then its last run's log says why)."""

    pod: str
    container: str
    reason: str
    message: str
    crashed: bool


@dataclass(frozen=True, slots=True)
class Rollout:
    health: VersionHealth
    stuck: str | None = None  # why the rollout can no longer succeed (progress deadline passed)


def annotations_of(item: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = item.get("metadata", {}).get("annotations") or {}
    return found


def app_of(item: Mapping[str, Any]) -> tuple[str, str]:
    """The application and environment an object's labels name."""
    labels = item.get("metadata", {}).get("labels") or {}
    return str(labels.get(manifests.NAME, "")), str(labels.get(manifests.ENVIRONMENT, ""))


def slot_of(deployment: Mapping[str, Any]) -> str:
    return str(deployment["metadata"].get("labels", {}).get(manifests.SLOT, ""))


def weights(service: Mapping[str, Any] | None, deployments: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Deployment name -> the share of traffic the Service gives it."""
    if service is None:
        return {}
    slot = service.get("spec", {}).get("selector", {}).get(manifests.SLOT)
    by_ingress = annotations_of(service).get(manifests.TRAFFIC) == INGRESS_NGINX
    if slot is not None and not by_ingress:
        return {item["metadata"]["name"]: 100 for item in deployments if slot_of(item) == slot}
    try:
        stored = json.loads(annotations_of(service).get(manifests.WEIGHTS, "{}"))
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        return {}
    return {str(name): int(weight) for name, weight in stored.items() if isinstance(weight, int)}


def size(deployment: Mapping[str, Any]) -> int:
    """The replicas the strategy asked for (the spec's, when the annotation is missing)."""
    asked = annotations_of(deployment).get(manifests.REPLICAS)
    return int(asked) if asked and asked.isdigit() else int(deployment.get("spec", {}).get("replicas", 1))


def version_set(deployment: Mapping[str, Any], weight: int, app: str, environment: str) -> VersionSet:
    noted = annotations_of(deployment)
    return VersionSet(
        id=deployment["metadata"]["name"],
        app_name=app,
        environment=environment,
        version=noted.get(manifests.APP_VERSION, ""),
        deployment_id=noted.get(manifests.DEPLOYMENT_ID, ""),
        replicas=size(deployment),
        weight=weight,
    )


def rollout(deployment: Mapping[str, Any]) -> Rollout:
    spec, status = deployment.get("spec", {}), deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    running = int(status.get("replicas", 0))
    total = max(desired, running)
    generation = int(deployment.get("metadata", {}).get("generation", 0))
    if int(status.get("observedGeneration", 0)) < generation:
        return Rollout(VersionHealth(0, total, "the Deployment controller has not seen the latest change yet"))
    ready = min(int(status.get(key, 0)) for key in ("updatedReplicas", "readyReplicas", "availableReplicas"))
    conditions = {item.get("type"): item for item in status.get("conditions", [])}
    progressing = conditions.get("Progressing", {})
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        deadline = spec.get("progressDeadlineSeconds", 600)
        why = f"made no progress within its progressDeadlineSeconds ({deadline}s): {progressing.get('message', '')}"
        return Rollout(VersionHealth(min(ready, total), total, why), stuck=why.rstrip(": "))
    message = ""
    failure = conditions.get("ReplicaFailure", {})
    if failure.get("status") == "True":
        message = f"{failure.get('reason', 'ReplicaFailure')}: {failure.get('message', '')}"
    elif running > desired:
        message = f"{running - desired} pod(s) of the previous template still running"
    return Rollout(VersionHealth(min(ready, total), total, message))


def split(weights_: Mapping[str, int], sizes: Mapping[str, int]) -> dict[str, int]:
    """Replicas per version set so that their share of pods follows ``weights_`` (all positive).

    No set grows past its own size and none drops below one replica: the sets scale together
    by the largest factor that keeps each within its size (what Argo Rollouts does without a
    traffic router). The split is as fine as the replicas allow: 1 canary beside 4 stable is 20%.
    """
    factor = min(sizes[name] / weight for name, weight in weights_.items())
    return {name: max(1, min(sizes[name], math.floor(factor * weight + 0.5))) for name, weight in weights_.items()}


def failing(pods: Sequence[Mapping[str, Any]], deployment_id: str) -> Failing | None:
    """Why the release's pods will not become ready by waiting, or None while any of them may.

    Only the release's own pods count (its deployment id, on the template, is on each), and
    not those being deleted: a rollout replacing a crashing release is not failing.
    """
    found = []
    for pod in pods:
        metadata = pod.get("metadata", {})
        if annotations_of(pod).get(manifests.DEPLOYMENT_ID) != deployment_id or metadata.get("deletionTimestamp"):
            continue
        why = _failing_container(pod)
        if why is None:
            return None
        found.append(why)
    return found[0] if found else None


def _failing_container(pod: Mapping[str, Any]) -> Failing | None:
    status = pod.get("status") or {}
    for container in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason", ""))
        if reason not in FAILING_WAITS:
            continue
        crashed = reason == "CrashLoopBackOff"
        message = str(waiting.get("message", ""))
        if crashed:
            ended = (container.get("lastState") or {}).get("terminated") or {}
            message = (
                f"exited with code {ended.get('exitCode', '?')} ({ended.get('reason', 'Error')}),"
                f" restarted {container.get('restartCount', 0)} time(s)"
            )
        name = str(pod.get("metadata", {}).get("name", ""))
        return Failing(name, str(container.get("name", "")), reason, message, crashed)
    return None
