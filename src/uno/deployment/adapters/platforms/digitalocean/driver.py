"""The ``digitalocean`` platform driver: a version set is an App Platform deployment, one live at a time.

App Platform runs one deployment of an app at a time and weighs no traffic between
deployments (``Capabilities(traffic_weights=False, traffic_stats=False)``): a canary is
refused before anything changes. A new deployment replaces the active one with App
Platform's own rolling deploy, which keeps the active deployment serving until the new one
passes its health checks: a deployment that fails (``ERROR``) never replaces it. The
previous deployment is not kept running; going back is App Platform's rollback
(validate, create, commit).

``create_version``: the app spec with this driver's service put in (``resources``;
``apps.update``, or ``apps.create`` for an app named by ``app`` that does not exist yet),
then the deployment it starts polled through its phases until ``ACTIVE`` (a failing one is
a ``PLATFORM_ERROR`` with App Platform's reason), within ``deploy_timeout_seconds``; on
timeout the deployment is cancelled. A deployment of the same uno-deploy deployment
(``UNO_DEPLOYMENT_ID`` in its spec) that an interrupted attempt started is polled, not made
again; an earlier deployment's release is rolled back to, not redeployed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.digitalocean import honoured, options, rendering, resources
from uno.deployment.adapters.platforms.digitalocean.client import Apps, DoError, failed, token_from
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
POLL_SECONDS = 2.0
DEPLOY_TIMEOUT_SECONDS = 1800.0
IN_PROGRESS = frozenset({"UNKNOWN", "PENDING_BUILD", "BUILDING", "PENDING_DEPLOY", "DEPLOYING"})


@dataclass(frozen=True, slots=True)
class Target:
    chosen: options.DigitalOceanOptions


class DigitalOceanDriver:
    name = "digitalocean"
    capabilities = Capabilities(traffic_weights=False, traffic_stats=False)
    declaration = honoured.DECLARATION

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        deploy_timeout_seconds: float = DEPLOY_TIMEOUT_SECONDS,
    ) -> None:
        self._environ = environ if environ is not None else {}
        self._poll = poll_seconds
        self._timeout = deploy_timeout_seconds
        self._targets: dict[tuple[str, str], Target] = {}

    def check(self, config: DeploymentConfig) -> Result[None]:
        chosen = self._chosen(config)
        return chosen if isinstance(chosen, Failure) else Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []  # App Platform pulls the image or builds the repository

    def _chosen(self, config: DeploymentConfig) -> Result[options.DigitalOceanOptions]:
        chosen = options.options_for(config)
        if isinstance(chosen, Failure):
            return chosen
        self._targets[(config.app_name, config.environment.value)] = Target(chosen.value)
        return chosen

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        chosen = self._chosen(release.config)
        if isinstance(chosen, Failure):
            return chosen
        return Success(rendering.render(release, chosen.value))

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value
        names = options.secret_names(config)
        missing = sorted(name for name in names if name not in self._environ)
        if missing:
            message = f"the secret {missing[0]} is not in the deployer's environment: App Platform's SECRET needs it"
            return Failure(ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": "secrets"}))
        secrets = {name: self._environ[name] for name in names}
        sized = config.model_copy(update={"resources": config.resources.model_copy(update={"replicas_min": replicas})})

        async def create(apps: Apps) -> VersionSet:
            app = await self._app(apps, picked)
            if app is None:
                spec = resources.app_spec(sized, picked, release.deployment_id, secrets)
                made = await apps.call("create", str(spec["name"]), resources.update_request(spec))
                app = made["app"]
                deployment = app["pending_deployment"]
            else:
                own = await self._own(apps, picked, app["id"], release.deployment_id)
                active = (app.get("active_deployment") or {}).get("id")
                if own is not None and own["id"] == active:
                    return self._version_set(app["id"], own, config, 100)
                if own is not None and own["phase"] in IN_PROGRESS:  # an interrupted attempt started it
                    deployment = own
                elif own is not None and own["phase"] in {"ACTIVE", "SUPERSEDED"}:
                    deployment = await self._roll_back(apps, app["id"], own["id"])
                else:
                    live = (app.get("spec") or {}) if picked.app_id else None
                    spec = resources.app_spec(sized, picked, release.deployment_id, secrets, live)
                    updated = await apps.call("update", app["id"], app["id"], resources.update_request(spec))
                    deployment = updated["app"].get("pending_deployment") or {}
                    if not deployment:
                        raise failed(f"App Platform started no deployment of app {app['id']}", resource=app["id"])
            done = await self._deployed(apps, app["id"], deployment["id"])
            return self._version_set(app["id"], done, config, 100)

        return await self._using(picked, create)

    async def _app(self, apps: Apps, chosen: options.DigitalOceanOptions) -> dict[str, Any] | None:
        if chosen.app_id:
            found: dict[str, Any] = (await apps.call("get", chosen.app_id, chosen.app_id))["app"]
            return found
        listed = await apps.call("list", chosen.app or "", per_page=200)
        return next((item for item in listed.get("apps", []) if item["spec"]["name"] == chosen.app), None)

    async def _deployments(self, apps: Apps, app_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await apps.call("list_deployments", app_id, app_id, per_page=200)).get(
            "deployments", []
        )
        return found

    async def _own(
        self, apps: Apps, chosen: options.DigitalOceanOptions, app_id: str, deployment_id: str
    ) -> dict[str, Any] | None:
        """The newest App Platform deployment of ``deployment_id`` that did not fail."""
        for deployment in await self._deployments(apps, app_id):  # newest first
            if _identity(deployment, chosen.service)[0] == deployment_id and deployment["phase"] not in {
                "ERROR",
                "CANCELED",
            }:
                return deployment
        return None

    async def _roll_back(self, apps: Apps, app_id: str, deployment_id: str) -> dict[str, Any]:
        """App Platform's rollback to ``deployment_id``: validated first, then made (and committed once active)."""
        body = {"deployment_id": deployment_id, "skip_pin": False}
        checked = await apps.call("validate_rollback", app_id, app_id, body)
        if not checked.get("valid", False):
            reason = (checked.get("error") or {}).get("message", "App Platform refused it")
            raise failed(f"a rollback of app {app_id} to {deployment_id} is not valid: {reason}", resource=app_id)
        made: dict[str, Any] = (await apps.call("create_rollback", app_id, app_id, body))["deployment"]
        return made

    async def _deployed(self, apps: Apps, app_id: str, deployment_id: str) -> dict[str, Any]:
        """Poll a deployment until it is ACTIVE; ERROR or CANCELED is a PLATFORM_ERROR; cancelled at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            found: dict[str, Any] = (await apps.call("get_deployment", deployment_id, app_id, deployment_id))[
                "deployment"
            ]
            phase = found.get("phase", "UNKNOWN")
            if phase == "ACTIVE":
                if found.get("cause") == "rollback":
                    await apps.call("commit_rollback", app_id, app_id)  # unpin: later deploys go on as usual
                return found
            if phase not in IN_PROGRESS:
                raise failed(
                    f"the App Platform deployment {deployment_id} of app {app_id} ended {phase}: {_reason(found)}",
                    resource=deployment_id,
                    call="apps.get_deployment",
                    phase=phase,
                )
            if loop.time() + self._poll > deadline:
                await apps.call("cancel_deployment", deployment_id, app_id, deployment_id)
                raise DoError(
                    ErrorDetails(
                        ErrorCode.TIMEOUT,
                        f"the App Platform deployment {deployment_id} was not active after {self._timeout:g}s:"
                        " cancelled",
                        {"resource": deployment_id},
                    )
                )
            await asyncio.sleep(self._poll)

    def _version_set(
        self, app_id: str, deployment: Mapping[str, Any], config: DeploymentConfig, weight: int
    ) -> VersionSet:
        chosen = self._targets[(config.app_name, config.environment.value)].chosen
        deployment_id, version, replicas = _identity(deployment, chosen.service)
        return VersionSet(
            id=f"{app_id[:8]}-{deployment['id'][:8]}",
            app_name=config.app_name,
            environment=config.environment.value,
            version=version,
            deployment_id=deployment_id,
            replicas=replicas,
            weight=weight,
        )

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        """Only the live deployment runs; scaling means a new deployment, so it is left to ``create_version``."""
        return Success(replace(version, replicas=version.replicas if version.weight else 0))

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        wanted = [name for name, weight in weights.items() if weight > 0]
        if len(wanted) != 1:
            message = (
                "App Platform runs one deployment at a time and cannot split traffic between deployments"
                f" (asked: {dict(weights)})"
            )
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"weights": dict(weights)}))

        async def switch(apps: Apps, target: Target) -> None:
            app = await self._app(apps, target.chosen)
            if app is None:
                raise failed(f"the App Platform app {target.chosen.app} does not exist", resource=target.chosen.app)
            for deployment in await self._deployments(apps, app["id"]):
                if f"{app['id'][:8]}-{deployment['id'][:8]}" != wanted[0]:
                    continue
                if deployment["id"] == (app.get("active_deployment") or {}).get("id"):
                    return  # it serves already
                made = await self._roll_back(apps, app["id"], deployment["id"])
                await self._deployed(apps, app["id"], made["id"])
                return
            raise failed(f"the App Platform app {app['id']} has no deployment {wanted[0]}", resource=wanted[0])

        return await self._on(app_name, environment, switch)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        """The active deployment passed App Platform's health checks to become active: all its instances are ready."""

        async def health(apps: Apps, target: Target) -> VersionHealth:
            app = await self._app(apps, target.chosen)
            active = (app or {}).get("active_deployment") or {}
            if app is None or f"{app['id'][:8]}-{str(active.get('id', ''))[:8]}" != version.id:
                return VersionHealth(0, max(version.replicas, 1), "not the active deployment of the app")
            replicas = _identity(active, target.chosen.service)[2]
            return VersionHealth(replicas, replicas, "the active deployment, past App Platform's health checks")

        return await self._on(version.app_name, version.environment, health)

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        message = (
            "App Platform's API reports no per-deployment request counts (the digitalocean platform measures none)"
        )
        return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"version_set": version.id}))

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        """Nothing to remove: App Platform stopped the deployment's instances when the next one became active.

        The active deployment is never stopped (an app runs at least one instance; stopping it
        would mean deleting an app): recreate on App Platform is a plain deployment.
        """
        return Success(None)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        return Success(None)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        async def listing(apps: Apps, target: Target) -> list[VersionSet]:
            app = await self._app(apps, target.chosen)
            active = (app or {}).get("active_deployment")
            if app is None or not active:
                return []
            deployment_id, version, replicas = _identity(active, target.chosen.service)
            found = VersionSet(
                id=f"{app['id'][:8]}-{active['id'][:8]}",
                app_name=app_name,
                environment=environment,
                version=version,
                deployment_id=deployment_id,
                replicas=replicas,
                weight=100,
            )
            return [found]

        return await self._on(app_name, environment, listing)

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """The service a deploy would put in the app's spec beside the one the active deployment runs (reads only).

        The release's identity (``UNO_DEPLOYMENT_ID``) is left out of both sides: it changes
        with every deploy and says nothing about what would run.
        """
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value
        secrets = {
            name: self._environ.get(name, "<not set in the deployer's environment>")
            for name in options.secret_names(config)
        }

        async def read(apps: Apps) -> list[LiveObject]:
            app = await self._app(apps, picked)
            wanted = _comparable(resources.service(config, picked, release.deployment_id, secrets))
            active = (app or {}).get("active_deployment") or {}
            live = next(
                (
                    _comparable(item)
                    for item in (active.get("spec") or {}).get("services", [])
                    if item.get("name") == picked.service
                ),
                None,
            )
            name = picked.app_id or picked.app or config.app_name
            notes = [] if app is not None else ["the app does not exist yet: the deploy creates it"]
            if secrets:
                notes.append("App Platform keeps SECRET values encrypted: a live secret cannot be compared with yours")
            note = "; ".join(notes)
            paths = tuple(f"envs.{key}.value" for key in secrets)
            return [LiveObject("AppSpecService", f"{name}/{picked.service}", wanted, live, paths, note)]

        return await self._using(picked, read)

    async def _on(self, app: str, environment: str, work: Callable[[Apps, Target], Awaitable[T]]) -> Result[T]:
        target = self._targets.get((app, environment))
        if target is None:
            message = f"the digitalocean driver was given no configuration for {app} in {environment} yet"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {}))
        return await self._using(target.chosen, lambda apps: work(apps, target))

    async def _using(self, chosen: options.DigitalOceanOptions, work: Callable[[Apps], Awaitable[T]]) -> Result[T]:
        try:
            apps = Apps(token_from(self._environ, chosen.token_env), self._environ)
            return Success(await work(apps))
        except DoError as error:
            return Failure(error.error)


def _identity(deployment: Mapping[str, Any], service: str) -> tuple[str, str, int]:
    """(uno-deploy deployment id, app version, instance count) of a deployment, from its spec's service."""
    for item in (deployment.get("spec") or {}).get("services", []):
        if item.get("name") == service:
            envs = {env.get("key"): env.get("value", "") for env in item.get("envs", [])}
            scaling = item.get("autoscaling") or {}
            count = int(item.get("instance_count") or scaling.get("min_instance_count") or 1)
            return str(envs.get(resources.DEPLOYMENT_ID, "")), str(envs.get("APP_VERSION", "")), count
    return "", "", 0


def _comparable(service: Mapping[str, Any]) -> dict[str, Any]:
    """A service spec keyed for comparison: envs by name, without the release's identity."""
    found = {key: value for key, value in service.items() if key != "envs"}
    found["envs"] = {
        env["key"]: {key: value for key, value in env.items() if key != "key"}
        for env in service.get("envs", [])
        if env.get("key") != resources.DEPLOYMENT_ID
    }
    return found


def _reason(deployment: Mapping[str, Any]) -> str:
    for step in (deployment.get("progress") or {}).get("steps", []):
        reason = step.get("reason") or {}
        if reason.get("message"):
            return str(reason["message"])
    return "App Platform gave no reason"
