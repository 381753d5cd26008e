"""The ``kubernetes`` platform driver: version sets as Deployments, traffic through one Service.

Each application and environment has two Deployment colours (``<app>-blue``,
``<app>-green``, see ``manifests``); a release always goes to the colour that takes no
traffic, and the Service ``<app>`` decides who serves:

- all traffic to one colour: the Service selects that colour (blue-green, and every strategy's
  last step); switching is one selector change, and back is the same change;
- a split (canary steps, rolling batches): the Service selects both colours and the weights
  are realised by replica ratio: the colours are scaled so their share of ready pods follows
  the weights (``reading.split``), and return to their own size when the split ends. Weights
  are therefore as fine as the replicas allow, and the platform measures no traffic per
  version: ``Capabilities(traffic_weights=True, traffic_stats=False)``. A canary on
  Kubernetes judges each step on health alone, and only when its configuration says so
  (``canary.analysis: health``).

With ``traffic: ingress-nginx`` (``options``) a split is made by ingress-nginx instead, with
the exact weights asked and no rescaling: the Ingress ``<app>`` sends traffic to the leading
colour's own Service, a canary Ingress ``<app>-canary`` sends the other colour its
``canary-weight``, and all traffic to one colour switches the main Ingress's backend and
removes the canary Ingress. The Service ``<app>`` then selects the leading colour (clients
inside the cluster) and records the weights (``reading.weights``).

Objects are applied with server-side apply (field manager ``uno-deploy``) after the
manifests pass the schema and semantic checks (``validating``); scaling and switching are
merge patches. A rollout is followed through the Deployment's status (``reading.rollout``);
a passed ``progressDeadlineSeconds`` fails it. Rollback re-applies the earlier release,
rendered again from its stored configuration, or switches the Service back when its
colour still runs. The rollback window is an annotation (``retire-at``) that the next
operation on the application honours: no controller runs in the cluster.

The primitives that name no configuration (traffic, health, scaling, listing) use the
namespace and kube context of the configuration last checked for the application and
environment: the engine checks a configuration before each platform step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.kubernetes import (
    comparing,
    honoured,
    manifests,
    options,
    reading,
    validating,
)
from uno.deployment.adapters.platforms.kubernetes.cluster import REQUEST_TIMEOUT, Cluster, ClusterError, kubeconfig_path
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import (
    Capabilities,
    LiveObject,
    Release,
    TrafficStats,
    VersionHealth,
    VersionSet,
)

T = TypeVar("T")
POLL_SECONDS = 0.2
GONE_SLACK_SECONDS = 60.0  # beyond the drain and grace periods, how long a deletion may take


@dataclass(frozen=True, slots=True)
class Target:
    kubeconfig: Path
    context: str | None
    namespace: str
    traffic: str = options.TRAFFIC_REPLICAS
    kubernetes_version: str = options.DEFAULT_KUBERNETES_VERSION

    @property
    def exact_weights(self) -> bool:
        return self.traffic == options.TRAFFIC_INGRESS_NGINX


LOG_TAIL_LINES = 20


async def _failing(
    cluster: Cluster, namespace: str, deployment: Mapping[str, Any], version: VersionSet, health: VersionHealth
) -> VersionHealth:
    """``health``, marked failing when every pod of the release keeps failing (with its last log lines).

    Reading pods and logs needs ``list pods`` and ``get pods/log``: without them (a 403),
    or on any other error, the rollout is judged as before, by its progress deadline.
    """
    selector = deployment["spec"].get("selector", {}).get("matchLabels", {})
    try:
        pods = await cluster.select("Pod", namespace, selector)
    except ClusterError:
        return health
    found = reading.failing(pods, version.deployment_id)
    if found is None:
        return health
    tail: tuple[str, ...] = ()
    try:
        text = await cluster.pod_log(namespace, found.pod, found.container, tail=LOG_TAIL_LINES, previous=found.crashed)
        tail = tuple(text.splitlines()[-LOG_TAIL_LINES:])
    except ClusterError:
        pass  # no log to show: the reason still says why
    why = f"pod {found.pod}: container {found.container} {found.reason}: {found.message}".rstrip(": ")
    return VersionHealth(health.ready, health.total, why, failing=True, log_tail=tail)


def _error(message: str, **context: Any) -> ClusterError:
    return ClusterError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, context))


class KubernetesDriver:
    name = "kubernetes"
    capabilities = Capabilities(traffic_weights=True, traffic_stats=False)
    declaration = honoured.DECLARATION

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        poll_seconds: float = POLL_SECONDS,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._environ = dict(environ) if environ is not None else {}
        self._now = now or (lambda: datetime.now(UTC))
        self._poll = poll_seconds
        self._timeout = request_timeout
        self._targets: dict[tuple[str, str], Target] = {}

    def check(self, config: DeploymentConfig) -> Result[None]:
        rendered = self._rendered(config, "pending", config.resources.replicas_min, "blue")
        return rendered if isinstance(rendered, Failure) else Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []  # the cluster runs the image: nothing of this machine's

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        config = release.config
        replicas = config.resources.replicas_min
        rendered = self._rendered(config, release.deployment_id, replicas, manifests.SLOTS[0])
        if isinstance(rendered, Failure):
            return rendered
        chosen, objects = rendered.value
        notes = [
            "a release goes to whichever colour takes no traffic (shown: blue); the Service then selects it",
            f"applied with server-side apply, field manager {manifests.FIELD_MANAGER}",
        ]
        if chosen.exact_weights:
            objects = [*objects, _canary_example(objects)]
            notes.append(
                "traffic: ingress-nginx: the Ingress sends all traffic to the serving colour's Service; during a"
                f" split the Ingress {manifests.canary_ingress_name(config.app_name)} (shown at weight 0) sends"
                " the other colour its share (nginx.ingress.kubernetes.io/canary-weight), and is removed after"
            )
        scaling = manifests.autoscaling(config)
        if scaling is not None:
            environment, slot = config.environment.value, manifests.SLOTS[0]
            hpa = manifests.autoscaler(config.app_name, environment, chosen.namespace, slot, scaling)
            checked = validating.validate([hpa], chosen.kubernetes_version)
            if isinstance(checked, Failure):
                return checked
            objects = [*objects, hpa]
            notes.append("the HorizontalPodAutoscaler is applied once the colour serves all traffic")
        if keys := manifests.secret_keys(config):
            secret = manifests.secret_name(config, chosen)
            notes.append(f"the Secret {secret} must hold the keys {', '.join(keys)} (never rendered)")
        return Success(
            {
                "platform": self.name,
                "format": "yaml",
                "namespace": chosen.namespace,
                "kube_context": chosen.kube_context,
                "kubernetes_version": chosen.kubernetes_version,
                "objects": [_object(manifest) for manifest in objects],
                "notes": notes,
            }
        )

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """The release's objects dry-run applied beside those live (``comparing``); nothing is changed."""
        config = release.config
        checked = self._rendered(config, release.deployment_id, config.resources.replicas_min, manifests.SLOTS[0])
        if isinstance(checked, Failure):
            return checked
        chosen = checked.value[0]

        async def read(cluster: Cluster) -> list[LiveObject]:
            return await comparing.live_objects(cluster, config, chosen, release.deployment_id)

        return await self._using(self._target(config.app_name, config.environment.value), read)

    def _rendered(
        self, config: DeploymentConfig, deployment_id: str, replicas: int, slot: str
    ) -> Result[tuple[options.KubeOptions, list[dict[str, Any]]]]:
        """The release's manifests for ``slot``, checked; remembers where the application lives."""
        chosen = options.options_for(config)
        if isinstance(chosen, Failure):
            return chosen
        objects = manifests.release(config, chosen.value, slot=slot, replicas=replicas, deployment_id=deployment_id)
        examples = [_canary_example(objects)] if chosen.value.exact_weights else []
        checked = validating.validate([*objects, *examples], chosen.value.kubernetes_version)
        if isinstance(checked, Failure):
            return checked
        where = Target(
            kubeconfig_path(self._environ),
            chosen.value.kube_context,
            chosen.value.namespace,
            chosen.value.traffic,
            chosen.value.kubernetes_version,
        )
        self._targets[(config.app_name, config.environment.value)] = where
        return Success((chosen.value, objects))

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        config = release.config
        checked = self._rendered(config, release.deployment_id, replicas, manifests.SLOTS[0])
        if isinstance(checked, Failure):
            return checked
        chosen = checked.value[0]  # the colour is known once the cluster is read: checked again then

        async def create(cluster: Cluster) -> VersionSet:
            app, environment = config.app_name, config.environment.value
            service = await self._claimed_service(cluster, chosen.namespace, app, environment)
            deployments = await cluster.select("Deployment", chosen.namespace, manifests.app_selector(app, environment))
            slot = _free_slot(service, deployments)
            objects = manifests.release(
                config, chosen, slot=slot, replicas=replicas, deployment_id=release.deployment_id
            )
            validated = validating.validate(objects, chosen.kubernetes_version)
            if isinstance(validated, Failure):
                raise ClusterError(validated.error)
            routing = await cluster.get("Ingress", chosen.namespace, app) if chosen.exact_weights else None
            owner = manifests.owner(app, environment)
            applied = {}
            for manifest in objects:
                kept = _keeping_traffic(manifest, service)
                if chosen.exact_weights and manifest["kind"] == "Ingress":
                    kept = _keeping_backend(manifest, routing, app)
                applied[manifest["kind"]] = await cluster.apply(kept, owner=owner)
            name = manifests.deployment_name(app, slot)
            if config.resources.replicas_min <= 1:
                await cluster.delete("PodDisruptionBudget", chosen.namespace, name, owner=owner)
            await cluster.delete("HorizontalPodAutoscaler", chosen.namespace, name, owner=owner)
            if manifests.RETIRE_AT in reading.annotations_of(applied["Deployment"]):  # a reused colour
                patch = {"metadata": {"annotations": {manifests.RETIRE_AT: None}}}
                await cluster.merge_patch("Deployment", chosen.namespace, name, patch)
            return VersionSet(name, app, environment, release.version, release.deployment_id, replicas, 0)

        return await self._using(self._target(config.app_name, config.environment.value), create)

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        async def scale(cluster: Cluster, target: Target) -> VersionSet:
            await self._mine(cluster, target, version)
            patch = {"metadata": {"annotations": {manifests.REPLICAS: str(replicas)}}, "spec": {"replicas": replicas}}
            scaled = await cluster.merge_patch("Deployment", target.namespace, version.id, patch)
            return reading.version_set(scaled, version.weight, version.app_name, version.environment)

        return await self._on(version.app_name, version.environment, scale)

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        positive = {name: weight for name, weight in weights.items() if weight > 0}

        async def route(cluster: Cluster, target: Target) -> None:
            listed = await cluster.select("Deployment", target.namespace, manifests.app_selector(app_name, environment))
            deployments = {item["metadata"]["name"]: item for item in listed}
            for name in weights:
                if name not in deployments:
                    raise _error(f"version set {name} does not exist in namespace {target.namespace}", version_set=name)
            service = await cluster.get("Service", target.namespace, app_name)
            if service is None:
                raise _error(f"Service {app_name} does not exist in namespace {target.namespace}: deploy first")
            if target.exact_weights:
                await _resize(cluster, target.namespace, deployments, {})  # every colour at its own size
                lead = await _route_ingresses(cluster, target, app_name, environment, deployments, positive)
                await _select(cluster, target.namespace, app_name, deployments, positive, exact=lead)
            else:
                await _resize(cluster, target.namespace, deployments, positive)
                await _select(cluster, target.namespace, app_name, deployments, positive)
            await _autoscale(cluster, target.namespace, app_name, environment, deployments, positive)

        return await self._on(app_name, environment, route)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        async def health(cluster: Cluster, target: Target) -> VersionHealth:
            deployment = await self._mine(cluster, target, version)
            state = reading.rollout(deployment)
            if state.stuck is not None:
                raise _error(f"Deployment {version.id} in namespace {target.namespace} {state.stuck}")
            if state.health.healthy:
                return state.health
            return await _failing(cluster, target.namespace, deployment, version, state.health)

        return await self._on(version.app_name, version.environment, health)

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        message = "the kubernetes platform measures no traffic per version (judge canaries with analysis: health)"
        return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"version_set": version.id}))

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        async def destroy(cluster: Cluster, target: Target) -> None:
            found = await cluster.get("Deployment", target.namespace, version.id)
            if found is None or not _same_release(found, version):
                return  # gone already, or its colour now runs a later release
            await self._remove(cluster, target, found, drain_timeout)

        return await self._on(version.app_name, version.environment, destroy)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        async def retire(cluster: Cluster, target: Target) -> None:
            await self._mine(cluster, target, version)
            when = (self._now() + timedelta(seconds=after)).isoformat()
            patch = {"metadata": {"annotations": {manifests.RETIRE_AT: when}}}
            await cluster.merge_patch("Deployment", target.namespace, version.id, patch)

        return await self._on(version.app_name, version.environment, retire)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        async def listing(cluster: Cluster, target: Target) -> list[VersionSet]:
            selector = manifests.app_selector(app_name, environment)
            deployments = await cluster.select("Deployment", target.namespace, selector)
            service = await cluster.get("Service", target.namespace, app_name)
            weights = reading.weights(service, deployments)
            kept = []
            for item in sorted(deployments, key=lambda found: str(found["metadata"]["name"])):
                if self._due(item) and not weights.get(item["metadata"]["name"]):
                    await self._remove(cluster, target, item, 0.0, wait=False)  # its window has passed
                    continue
                kept.append(reading.version_set(item, weights.get(item["metadata"]["name"], 0), app_name, environment))
            return kept

        return await self._on(app_name, environment, listing)

    def _due(self, deployment: Mapping[str, Any]) -> bool:
        when = reading.annotations_of(deployment).get(manifests.RETIRE_AT)
        try:
            return when is not None and datetime.fromisoformat(when) <= self._now()
        except ValueError:
            return False

    async def _claimed_service(
        self, cluster: Cluster, namespace: str, app: str, environment: str
    ) -> dict[str, Any] | None:
        """The application's Service, refusing one that belongs to another environment or tool."""
        service = await cluster.get("Service", namespace, app)
        if service is None:
            return None
        labels = service["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/managed-by") != manifests.FIELD_MANAGER:
            message = f"Service {app} in namespace {namespace} exists and is not managed by uno-deploy"
            raise ClusterError(ErrorDetails(ErrorCode.CONFLICT, message, {"object": f"Service/{app}"}))
        owner = labels.get(manifests.ENVIRONMENT)
        if owner != environment:
            message = (
                f"Service {app} in namespace {namespace} belongs to the {owner} environment: "
                "give each environment its own custom_settings.namespace"
            )
            raise ClusterError(ErrorDetails(ErrorCode.CONFLICT, message, {"object": f"Service/{app}"}))
        return service

    async def _mine(self, cluster: Cluster, target: Target, version: VersionSet) -> dict[str, Any]:
        found = await cluster.get("Deployment", target.namespace, version.id)
        if found is None or not _same_release(found, version):
            raise _error(f"version set {version.id} ({version.version}) no longer runs in namespace {target.namespace}")
        return found

    async def _remove(
        self, cluster: Cluster, target: Target, deployment: Mapping[str, Any], drain: float, *, wait: bool = True
    ) -> None:
        namespace, name = target.namespace, deployment["metadata"]["name"]
        owner = manifests.owner(*reading.app_of(deployment))
        kinds = ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Deployment")
        for kind in ("Service", *kinds) if target.exact_weights else kinds:  # the colour's own Service, if any
            await cluster.delete(kind, namespace, name, owner=owner)
        if not wait:
            return
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        deadline = asyncio.get_running_loop().time() + max(drain, grace) + GONE_SLACK_SECONDS
        while await cluster.get("Deployment", namespace, name) is not None:
            if asyncio.get_running_loop().time() > deadline:
                raise _error(f"Deployment {name} in namespace {namespace} was not gone in time")
            await asyncio.sleep(self._poll)

    def _target(self, app: str, environment: str) -> Target | ErrorDetails:
        found = self._targets.get((app, environment))
        if found is None:
            message = f"the kubernetes driver was given no configuration for {app} in {environment} yet"
            return ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {})
        return found

    async def _on(self, app: str, environment: str, work: Callable[[Cluster, Target], Awaitable[T]]) -> Result[T]:
        target = self._target(app, environment)
        if isinstance(target, ErrorDetails):
            return Failure(target)
        where = target
        return await self._using(where, lambda cluster: work(cluster, where))

    async def _using(self, target: Target | ErrorDetails, work: Callable[[Cluster], Awaitable[T]]) -> Result[T]:
        """Run ``work`` on a connection to the target's cluster; every failure comes back as a value."""
        if isinstance(target, ErrorDetails):
            return Failure(target)
        try:
            cluster = await Cluster.connect(target.kubeconfig, target.context, timeout=self._timeout)
            try:
                return Success(await work(cluster))
            finally:
                await cluster.close()
        except ClusterError as failed:
            return Failure(failed.error)


def _object(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest in ``render``'s object shape: its body is the manifest, as ``kubectl apply -f`` takes it."""
    return {"kind": manifest["kind"], "name": manifest["metadata"]["name"], "body": manifest}


def _same_release(deployment: Mapping[str, Any], version: VersionSet) -> bool:
    running = reading.annotations_of(deployment).get(manifests.DEPLOYMENT_ID)
    return not version.deployment_id or running == version.deployment_id


def _free_slot(service: Mapping[str, Any] | None, deployments: list[dict[str, Any]]) -> str:
    """The colour a new release goes to: one without traffic, preferably one that does not exist."""
    serving = reading.weights(service, deployments)
    existing = {reading.slot_of(item): item["metadata"]["name"] for item in deployments}
    idle = [slot for slot in manifests.SLOTS if not serving.get(existing.get(slot, ""), 0)]
    if not idle:
        raise _error("both colours take traffic (an unfinished canary?): roll back or finish it first")
    fresh = [slot for slot in idle if slot not in existing]
    return (fresh or idle)[0]


def _keeping_traffic(manifest: dict[str, Any], service: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply the Service ``<app>`` as rendered but with the traffic it has now: a release changes no routing.

    A colour's own Service (``traffic: ingress-nginx``) is applied as rendered: it always selects its colour.
    """
    if manifest["kind"] != "Service" or manifest["metadata"]["name"] != manifest["metadata"]["labels"].get(
        manifests.NAME
    ):
        return manifest
    spec = dict(manifest["spec"])
    metadata = dict(manifest["metadata"])
    if service is None:
        spec["selector"] = {**spec["selector"], manifests.SLOT: reading.NOTHING}
        return {**manifest, "spec": spec}
    spec["selector"] = dict(service["spec"].get("selector", {}))
    noted = reading.annotations_of(service)
    record = {key: noted[key] for key in (manifests.WEIGHTS, manifests.TRAFFIC) if key in noted}
    if record:
        metadata["annotations"] = {**metadata.get("annotations", {}), **record}
    return {**manifest, "metadata": metadata, "spec": spec}


def _keeping_backend(manifest: dict[str, Any], routing: Mapping[str, Any] | None, app: str) -> dict[str, Any]:
    """The main Ingress as rendered but to the Service it sends traffic to now (``<app>``, selecting none, if new)."""
    backend = (manifests.ingress_backend(routing) if routing is not None else None) or app
    return {**manifest, "spec": {**manifest["spec"], "rules": manifests.with_backend(manifest, backend)}}


def _canary_example(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The canary Ingress a split would apply beside the rendered one (to the other colour, at weight 0)."""
    main = next(item for item in objects if item["kind"] == "Ingress")
    deployment = next(item for item in objects if item["kind"] == "Deployment")
    app = main["metadata"]["name"]
    other = next(slot for slot in manifests.SLOTS if slot != reading.slot_of(deployment))
    return manifests.canary_ingress(main, manifests.deployment_name(app, other), 0)


async def _route_ingresses(
    cluster: Cluster,
    target: Target,
    app: str,
    environment: str,
    deployments: Mapping[str, dict[str, Any]],
    positive: Mapping[str, int],
) -> str:
    """Route through ingress-nginx with exact weights; the colour the main Ingress now leads with (or none).

    The main Ingress keeps its colour while that colour takes a share (else the larger share
    leads); the other colour of a split gets a canary Ingress at its percentage. All traffic to
    one colour: the canary Ingress first takes everything if that colour is its own, then the
    main Ingress switches, then the canary Ingress goes.
    """
    namespace, owner = target.namespace, manifests.owner(app, environment)
    main = await cluster.owned("Ingress", namespace, app, owner)
    if main is None:
        raise _error(f"Ingress {app} does not exist in namespace {namespace}: deploy first", object=f"Ingress/{app}")
    canary_name = manifests.canary_ingress_name(app)
    canary = await cluster.owned("Ingress", namespace, canary_name, owner)
    current = manifests.ingress_backend(main)
    ranked = sorted(positive, key=lambda name: (name != current, -positive[name], name))
    colours = {name: reading.slot_of(deployments[name]) for name in ranked}
    owned = [manifests.colour_service(app, environment, namespace, colours[name]) for name in ranked]
    checked = validating.validate(owned, target.kubernetes_version)
    if isinstance(checked, Failure):
        raise ClusterError(checked.error)
    for manifest in owned:  # the Ingresses only ever name Services that exist
        await cluster.apply(manifest, owner=owner)
    lead = ranked[0] if ranked else app  # no traffic: the Service <app>, which then selects no pod
    if len(ranked) > 1:
        other = ranked[1]
        weight = round(100 * positive[other] / (positive[lead] + positive[other]))
        manifest = manifests.canary_ingress(main, other, weight)
        checked = validating.validate([manifest], target.kubernetes_version)
        if isinstance(checked, Failure):
            raise ClusterError(checked.error)
        await cluster.apply(manifest, owner=owner)
    elif canary is not None and manifests.ingress_backend(canary) == lead != current:
        annotations = {manifests.NGINX_CANARY_WEIGHT: "100"}
        await cluster.merge_patch("Ingress", namespace, canary_name, {"metadata": {"annotations": annotations}})
    if lead != current:
        await cluster.merge_patch("Ingress", namespace, app, {"spec": {"rules": manifests.with_backend(main, lead)}})
    if len(ranked) <= 1 and canary is not None:
        await cluster.delete("Ingress", namespace, canary_name, owner=owner)
    return colours[lead] if ranked else reading.NOTHING


async def _resize(
    cluster: Cluster, namespace: str, deployments: Mapping[str, dict[str, Any]], positive: Mapping[str, int]
) -> None:
    """Scale for the weights: a split by replica ratio; everything else back to its own size."""
    wanted = {name: reading.size(item) for name, item in deployments.items()}
    if len(positive) > 1:
        counts = reading.split(positive, {name: wanted[name] for name in positive})
        wanted = {name: counts.get(name, 0) for name in deployments}  # idle colours would take a share: stop them
    for name, count in wanted.items():
        if int(deployments[name]["spec"].get("replicas", 0)) != count:
            await cluster.merge_patch("Deployment", namespace, name, {"spec": {"replicas": count}})


async def _select(
    cluster: Cluster,
    namespace: str,
    app: str,
    deployments: Mapping[str, dict[str, Any]],
    positive: Mapping[str, int],
    *,
    exact: str | None = None,
) -> None:
    """Point the Service at the colour that takes everything, at both for a split, at nothing for none.

    ``exact``: ingress-nginx routes, and the Service selects that colour (the main Ingress's) even in a split.
    """
    if exact is not None:
        slot: str | None = exact
    elif len(positive) == 1:
        slot = reading.slot_of(deployments[next(iter(positive))])
    else:
        slot = None if positive else reading.NOTHING
    annotations = {
        manifests.WEIGHTS: json.dumps(dict(positive), sort_keys=True),
        manifests.TRAFFIC: reading.INGRESS_NGINX if exact is not None else None,
    }
    patch = {"metadata": {"annotations": annotations}, "spec": {"selector": {manifests.SLOT: slot}}}
    await cluster.merge_patch("Service", namespace, app, patch)
    for name in positive:
        if manifests.RETIRE_AT in reading.annotations_of(deployments[name]):  # traffic came back: no longer retiring
            await cluster.merge_patch(
                "Deployment", namespace, name, {"metadata": {"annotations": {manifests.RETIRE_AT: None}}}
            )


async def _autoscale(
    cluster: Cluster,
    namespace: str,
    app: str,
    environment: str,
    deployments: Mapping[str, dict[str, Any]],
    positive: Mapping[str, int],
) -> None:
    """Only a colour that serves everything is autoscaled: an autoscaler would undo a split."""
    owner = manifests.owner(app, environment)
    for name, item in deployments.items():
        scaling = reading.annotations_of(item).get(manifests.AUTOSCALING)
        if len(positive) == 1 and name in positive and scaling:
            autoscaler = manifests.autoscaler(app, environment, namespace, reading.slot_of(item), json.loads(scaling))
            await cluster.apply(autoscaler, owner=owner)
        else:
            await cluster.delete("HorizontalPodAutoscaler", namespace, name, owner=owner)
