"""The ``aws`` platform driver: version sets as ECS services behind one ALB forward action.

As AWS CodeDeploy's ECS blue/green does it, without CodeDeploy: each release is its own
ECS service (``<app>-<env>-<version>-<short id>``), with its own task definition revision
and its own target group, joined to the listener's (or rule's) forward action at weight 0
when it is made (ECS only registers tasks in a target group a load balancer uses). Moving
traffic is one ``ModifyListener``/``ModifyRule`` call with every weight (``routing``), so
blue-green, canary and rolling are the same primitive, and a rollback inside the window is
a weight switch to a service that still runs.

Rolling uses version sets too, not ECS's own rolling deployment with the circuit breaker:
one model for every strategy, a rollback that is a warm switch rather than a redeploy, and
canary-style weights for each batch. (The circuit breaker still guards each service's own
task start-up: ``version_health`` reports a FAILED rollout as failing.)

State lives on AWS, in tags on what the driver made, so it survives restarts: identity
(``resources.identity``), the rollback window's end (``uno.retire-after``, honoured by the
next listing) and the start of the canary statistics window (``uno.stats-since``). The
primitives that name no configuration (traffic, health, scaling, listing) use the settings
of the configuration last checked for the application and environment: the engine checks
a configuration before each platform step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.aws import honoured, live, options, rendering, resources, routing
from uno.deployment.adapters.platforms.aws.client import Aws, AwsError, failed
from uno.deployment.domain import quantities
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
POLL_SECONDS = 0.5
GONE_SLACK_SECONDS = 120.0  # beyond the drain, how long tasks may take to stop


@dataclass(frozen=True, slots=True)
class Target:
    chosen: options.AwsOptions


class AwsDriver:
    name = "aws"
    capabilities = Capabilities(traffic_weights=True, traffic_stats=True)
    declaration = honoured.DECLARATION

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._environ = dict(environ) if environ is not None else {}
        self._now = now or (lambda: datetime.now(UTC))
        self._poll = poll_seconds
        self._targets: dict[tuple[str, str], Target] = {}
        self._regions: dict[str, Aws] = {}
        self._since: dict[str, datetime] = {}

    def check(self, config: DeploymentConfig) -> Result[None]:
        chosen = self._chosen(config)
        return chosen if isinstance(chosen, Failure) else Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []  # ECS runs the image: nothing of this machine's

    def clients(self, region: str) -> Aws:
        """The region's clients (made once; tests reach botocore's event hooks through them)."""
        if region not in self._regions:
            self._regions[region] = Aws(region, self._environ)
        return self._regions[region]

    def _chosen(self, config: DeploymentConfig) -> Result[options.AwsOptions]:
        chosen = options.options_for(config)
        if isinstance(chosen, Failure):
            return chosen
        try:
            resources.task_size(config)
        except quantities.QuantityError as error:
            return Failure(ErrorDetails.validation("resources", str(error)))
        self._targets[(config.app_name, config.environment.value)] = Target(chosen.value)
        return chosen

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        chosen = self._chosen(release.config)
        if isinstance(chosen, Failure):
            return chosen
        return Success(rendering.render(release, chosen.value))

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """Each object ``render`` shows for ``release``, beside the serving version set's (``live``). Reads only."""
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value
        rendered = rendering.render(release, picked)
        autoscaled = resources.autoscaling(config) is not None

        async def read(aws: Aws) -> list[LiveObject]:
            services = await self._services(aws, picked, config.app_name, config.environment.value)
            return await live.read(aws, picked, rendered, services, autoscaled)

        return await self._using(picked, read)

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value

        async def create(aws: Aws) -> VersionSet:
            app, environment = config.app_name, config.environment.value
            weights = await routing.claimed(aws, picked, app, environment)
            named = resources.names(config, release.deployment_id, picked.cluster)
            found = await self._service(aws, picked, named.service)
            if found is not None and _tags(found).get(resources.DEPLOYMENT_ID) == release.deployment_id:
                if found["desiredCount"] != replicas:  # an interrupted attempt made it: adopt it
                    await self._scale(aws, picked, found, replicas)
                return _version_set(found, weights.get(_group(found), 0), replicas)
            if found is not None:
                raise failed(f"ECS service {named.service} exists and is not this deployment's", resource=named.service)
            routing.make_room(picked, len(weights) + 1)  # refused before anything is made
            body = resources.task_definition(config, picked, release.deployment_id)
            registered = await aws.call("ecs", "register_task_definition", named.family, **body)
            definition = registered["taskDefinition"]["taskDefinitionArn"]
            group = await self._target_group(aws, resources.target_group(config, picked, release.deployment_id))
            if group not in weights:
                await routing.route(aws, picked, {**weights, group: 0})  # joined, taking no traffic
            body = resources.service(
                config,
                picked,
                release.deployment_id,
                replicas=replicas,
                task_definition_arn=definition,
                target_group_arn=group,
            )
            created = await aws.call("ecs", "create_service", named.service, **body)
            return _version_set(created["service"], 0, replicas)

        return await self._using(picked, create)

    async def _target_group(self, aws: Aws, body: dict[str, Any]) -> str:
        """Make the target group, or take the one an interrupted attempt of the same deployment made."""
        name = body["Name"]
        try:
            made = await aws.call("elbv2", "create_target_group", name, **body)
            return str(made["TargetGroups"][0]["TargetGroupArn"])
        except AwsError as error:
            if error.aws_code != "DuplicateTargetGroupName":
                raise
        found = await aws.call("elbv2", "describe_target_groups", name, Names=[name])
        arn = str(found["TargetGroups"][0]["TargetGroupArn"])
        wanted = {tag["Key"]: tag["Value"] for tag in body["Tags"]}
        tags = (await routing.tags_of(aws, [arn])).get(arn, {})
        if any(tags.get(key) != wanted[key] for key in (resources.MANAGED_BY, resources.DEPLOYMENT_ID)):
            raise failed(f"target group {name} exists and is not this deployment's", resource=name)
        return arn

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        async def scale(aws: Aws, chosen: options.AwsOptions) -> VersionSet:
            found = await self._mine(aws, chosen, version)
            await self._scale(aws, chosen, found, replicas)
            return _version_set(found, version.weight, replicas)

        return await self._on(version.app_name, version.environment, scale)

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        async def switch(aws: Aws, chosen: options.AwsOptions) -> None:
            services = {
                found["serviceName"]: found for found in await self._services(aws, chosen, app_name, environment)
            }
            for name in weights:
                if name not in services:
                    raise failed(f"version set {name} does not run in cluster {chosen.cluster}", version_set=name)
            await routing.claimed(aws, chosen, app_name, environment)
            wanted = {_group(found): max(0, int(weights.get(name, 0))) for name, found in services.items()}
            await routing.route(aws, chosen, wanted)
            for name, found in services.items():
                if weights.get(name, 0) > 0 and resources.RETIRE_AFTER in _tags(found):  # back before its window ended
                    await aws.call(
                        "ecs", "untag_resource", name, resourceArn=found["serviceArn"], tagKeys=[resources.RETIRE_AFTER]
                    )
            positive = [name for name in weights if weights[name] > 0]
            await self._autoscale(aws, chosen, services, positive[0] if len(positive) == 1 else None)

        return await self._on(app_name, environment, switch)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        async def health(aws: Aws, chosen: options.AwsOptions) -> VersionHealth:
            found = await self._mine(aws, chosen, version)
            desired, running = int(found["desiredCount"]), int(found.get("runningCount", 0))
            group = _group(found)
            described = await aws.call("elbv2", "describe_target_health", group, TargetGroupArn=group)
            states = [item["TargetHealth"] for item in described["TargetHealthDescriptions"]]
            healthy = sum(1 for state in states if state.get("State") == "healthy")
            message = f"{running}/{desired} task(s) running, {healthy} healthy target(s)"
            reasons = sorted({state["Description"] for state in states if state.get("Description")})
            failing = [item for item in found.get("deployments", []) if item.get("rolloutState") == "FAILED"]
            if failing:
                message += f": the ECS deployment failed: {failing[0].get('rolloutStateReason', '')}"
            elif reasons:
                message += f" ({'; '.join(reasons)})"
            return VersionHealth(min(running, healthy), desired, message, failing=bool(failing))

        return await self._on(version.app_name, version.environment, health)

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        async def measure(aws: Aws, chosen: options.AwsOptions) -> TrafficStats:
            found = await self._mine(aws, chosen, version)
            now = self._now()
            since = self._since.get(version.id) or _moment(_tags(found).get(resources.STATS_SINCE))
            stats = await self._stats(aws, chosen, found, since or _created(found, now), now)
            if reset:
                self._since[version.id] = now
                tag = resources.ecs_tags({resources.STATS_SINCE: now.isoformat(timespec="seconds")})
                await aws.call("ecs", "tag_resource", version.id, resourceArn=found["serviceArn"], tags=tag)
            return stats

        return await self._on(version.app_name, version.environment, measure)

    async def _stats(
        self, aws: Aws, chosen: options.AwsOptions, found: Mapping[str, Any], since: datetime, now: datetime
    ) -> TrafficStats:
        balancer = resources.load_balancer_dimension(chosen.listener_of_routing)
        queries = resources.metric_queries(
            balancer, resources.target_group_dimension(_group(found)), chosen.latency_statistic
        )
        answer = await aws.call(
            "cloudwatch",
            "get_metric_data",
            _group(found),
            MetricDataQueries=queries,
            StartTime=since,
            EndTime=now + timedelta(minutes=1),  # the current minute's datapoint is stamped at its start
        )
        values = {
            item["Id"]: [float(value) for value in item.get("Values", [])] for item in answer["MetricDataResults"]
        }
        latency = values.get("latency") or []
        return TrafficStats(
            requests=round(sum(values.get("requests", []))),
            errors=round(sum(values.get("errors", []))),
            p99_ms=max(latency) * 1000 if latency else None,
        )

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        async def destroy(aws: Aws, chosen: options.AwsOptions) -> None:
            found = await self._service(aws, chosen, version.id)
            if found is None or not _same_release(found, version):
                return  # gone already
            await self._remove(aws, chosen, found, drain_timeout, wait=True)

        return await self._on(version.app_name, version.environment, destroy)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        async def retire(aws: Aws, chosen: options.AwsOptions) -> None:
            found = await self._mine(aws, chosen, version)
            when = (self._now() + timedelta(seconds=after)).isoformat(timespec="seconds")
            tag = resources.ecs_tags({resources.RETIRE_AFTER: when})
            await aws.call("ecs", "tag_resource", version.id, resourceArn=found["serviceArn"], tags=tag)

        return await self._on(version.app_name, version.environment, retire)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        async def listing(aws: Aws, chosen: options.AwsOptions) -> list[VersionSet]:
            services = await self._services(aws, chosen, app_name, environment)
            weights = routing.weights_of(await routing.actions(aws, chosen))
            kept = []
            for found in sorted(services, key=lambda item: str(item["serviceName"])):
                weight = weights.get(_group(found), 0)
                due = _moment(_tags(found).get(resources.RETIRE_AFTER))
                if due is not None and due <= self._now() and not weight:
                    await self._remove(aws, chosen, found, 0.0, wait=False)  # its rollback window has passed
                    continue
                kept.append(_version_set(found, weight, int(found["desiredCount"])))
            return kept

        return await self._on(app_name, environment, listing)

    async def _services(self, aws: Aws, chosen: options.AwsOptions, app: str, environment: str) -> list[dict[str, Any]]:
        """The cluster's live services tagged as this application's in this environment."""
        arns: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = await aws.call("ecs", "list_services", chosen.cluster, cluster=chosen.cluster, **token)
            arns += page.get("serviceArns", [])
            if not page.get("nextToken"):
                break
            token = {"nextToken": page["nextToken"]}
        found = []
        for start in range(0, len(arns), 10):  # DescribeServices takes 10 at most
            found += await self._describe(aws, chosen, arns[start : start + 10])
        return [item for item in found if _belongs(item, app, environment)]

    async def _describe(self, aws: Aws, chosen: options.AwsOptions, names: list[str]) -> list[dict[str, Any]]:
        answer = await aws.call(
            "ecs", "describe_services", ", ".join(names), cluster=chosen.cluster, services=names, include=["TAGS"]
        )
        return [item for item in answer.get("services", []) if item.get("status") == "ACTIVE"]

    async def _service(self, aws: Aws, chosen: options.AwsOptions, name: str) -> dict[str, Any] | None:
        """The live service ``name`` if uno-deploy manages it (one it does not is never returned)."""
        found = await self._describe(aws, chosen, [name])
        mine = [item for item in found if _tags(item).get(resources.MANAGED_BY) == resources.MANAGER]
        if found and not mine:
            raise failed(f"ECS service {name} exists and is not managed by uno-deploy", resource=name)
        return mine[0] if mine else None

    async def _mine(self, aws: Aws, chosen: options.AwsOptions, version: VersionSet) -> dict[str, Any]:
        found = await self._service(aws, chosen, version.id)
        if found is None or not _same_release(found, version):
            raise failed(f"version set {version.id} ({version.version}) no longer runs in cluster {chosen.cluster}")
        return found

    async def _scale(self, aws: Aws, chosen: options.AwsOptions, found: Mapping[str, Any], replicas: int) -> None:
        name = found["serviceName"]
        await aws.call("ecs", "update_service", name, cluster=chosen.cluster, service=name, desiredCount=replicas)

    async def _autoscale(
        self, aws: Aws, chosen: options.AwsOptions, services: Mapping[str, dict[str, Any]], serving: str | None
    ) -> None:
        """Only a service that takes all traffic is autoscaled: scaling would otherwise fight the weights."""
        for name, found in services.items():
            scaling = _tags(found).get(resources.AUTOSCALING)
            if not scaling:
                continue
            if name == serving:
                low, high, cpu = (int(part) for part in scaling.split(":"))
                target = resources.scalable_target(chosen.cluster, name, low, high)
                await aws.call("application-autoscaling", "register_scalable_target", name, **target)
                policy = resources.scaling_policy(chosen.cluster, name, cpu)
                await aws.call("application-autoscaling", "put_scaling_policy", name, **policy)
            else:
                await self._unscale(aws, chosen, name)

    async def _unscale(self, aws: Aws, chosen: options.AwsOptions, name: str) -> None:
        where = {
            "ServiceNamespace": "ecs",
            "ResourceIds": [resources.scaling_resource(chosen.cluster, name)],
            "ScalableDimension": resources.SCALABLE_DIMENSION,
        }
        found = await aws.call("application-autoscaling", "describe_scalable_targets", name, **where)
        if found.get("ScalableTargets"):
            await aws.call(
                "application-autoscaling",
                "deregister_scalable_target",
                name,
                ServiceNamespace="ecs",
                ResourceId=resources.scaling_resource(chosen.cluster, name),
                ScalableDimension=resources.SCALABLE_DIMENSION,
            )

    async def _remove(
        self, aws: Aws, chosen: options.AwsOptions, found: Mapping[str, Any], drain: float, *, wait: bool
    ) -> None:
        """Drain (the target group's deregistration delay), stop, delete: service, target group, task definition."""
        name, group = found["serviceName"], _group(found)
        delay = {"Key": "deregistration_delay.timeout_seconds", "Value": str(int(min(max(drain, 0), 3600)))}
        await aws.call("elbv2", "modify_target_group_attributes", group, TargetGroupArn=group, Attributes=[delay])
        if _tags(found).get(resources.AUTOSCALING):
            await self._unscale(aws, chosen, name)
        if found["desiredCount"]:
            await self._scale(aws, chosen, found, 0)
        if wait:
            await self._stopped(aws, chosen, name, drain)
        await aws.call("ecs", "delete_service", name, cluster=chosen.cluster, service=name, force=True)
        weights = await routing.claimed(aws, chosen, *_app_of(found))
        if group in weights:
            await routing.route(aws, chosen, {arn: weight for arn, weight in weights.items() if arn != group})
        await aws.call("elbv2", "delete_target_group", group, TargetGroupArn=group)
        definition = found["taskDefinition"]
        await aws.call("ecs", "deregister_task_definition", definition, taskDefinition=definition)

    async def _stopped(self, aws: Aws, chosen: options.AwsOptions, name: str, drain: float) -> None:
        deadline = asyncio.get_running_loop().time() + drain + GONE_SLACK_SECONDS
        while True:
            found = await self._describe(aws, chosen, [name])
            if not found or not found[0].get("runningCount"):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise failed(f"ECS service {name}'s tasks did not stop in time", resource=name)
            await asyncio.sleep(self._poll)

    def _target(self, app: str, environment: str) -> Target | ErrorDetails:
        found = self._targets.get((app, environment))
        if found is None:
            message = f"the aws driver was given no configuration for {app} in {environment} yet"
            return ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {})
        return found

    async def _on(
        self, app: str, environment: str, work: Callable[[Aws, options.AwsOptions], Awaitable[T]]
    ) -> Result[T]:
        target = self._target(app, environment)
        if isinstance(target, ErrorDetails):
            return Failure(target)
        chosen = target.chosen
        return await self._using(chosen, lambda aws: work(aws, chosen))

    async def _using(self, chosen: options.AwsOptions, work: Callable[[Aws], Awaitable[T]]) -> Result[T]:
        """Run ``work`` with the region's clients; every AWS failure comes back as a value."""
        try:
            return Success(await work(self.clients(chosen.region)))
        except AwsError as error:
            return Failure(error.error)


def _tags(found: Mapping[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag.get("value", "") for tag in found.get("tags", [])}


def _belongs(found: Mapping[str, Any], app: str, environment: str) -> bool:
    tags = _tags(found)
    return (
        tags.get(resources.MANAGED_BY) == resources.MANAGER
        and tags.get(resources.APP) == app
        and tags.get(resources.ENVIRONMENT) == environment
    )


def _app_of(found: Mapping[str, Any]) -> tuple[str, str]:
    tags = _tags(found)
    return tags.get(resources.APP, ""), tags.get(resources.ENVIRONMENT, "")


def _same_release(found: Mapping[str, Any], version: VersionSet) -> bool:
    return not version.deployment_id or _tags(found).get(resources.DEPLOYMENT_ID) == version.deployment_id


def _group(found: Mapping[str, Any]) -> str:
    balancers = found.get("loadBalancers") or [{}]
    return str(balancers[0].get("targetGroupArn", ""))


def _version_set(found: Mapping[str, Any], weight: int, replicas: int) -> VersionSet:
    tags = _tags(found)
    return VersionSet(
        id=found["serviceName"],
        app_name=tags.get(resources.APP, ""),
        environment=tags.get(resources.ENVIRONMENT, ""),
        version=tags.get(resources.VERSION, ""),
        deployment_id=tags.get(resources.DEPLOYMENT_ID, ""),
        replicas=replicas,
        weight=weight,
    )


def _moment(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _created(found: Mapping[str, Any], now: datetime) -> datetime:
    created = found.get("createdAt")
    return created if isinstance(created, datetime) else now - timedelta(hours=1)
