"""The ``heroku`` platform driver: a version set is a Heroku release, one live at a time.

Heroku runs one release of an app at a time and cannot weigh traffic between releases
(``Capabilities(traffic_weights=False, traffic_stats=False)``): a canary is refused
before anything changes. A new release replaces the live one; with the ``preboot``
feature on (blue-green and rolling), Heroku starts the new dynos beside the old ones and
moves traffic once they are up, so nothing stops serving; without it (recreate), the old
dynos stop when the release is made. Heroku does not keep the previous release running:
there is no warm switch back. Going back is a platform rollback (``POST /apps/{app}/releases
{"release": id}``), which starts an earlier slug and its config again, and the steps say so.

``create_version`` of a release: the preboot feature set for the strategy, the config vars
(only what changed: each change is a release), the source (``POST /sources``, the tarball
of ``source_dir`` uploaded to the URL Heroku gives), the build (``POST .../builds``) polled
until it ends within ``build_timeout_seconds``, then the formation (dyno count and size).
An interrupted attempt's build is found again (``resources.build_version``) and not redone;
a release built by an earlier deployment is rolled back to, not rebuilt (``rollback``).

``version_health``: the live release's dynos of the process type (``up`` ones are ready,
every one ``crashed`` is failing) and an HTTP check of the app's ``web_url`` on the
health check path (through the ``HTTP_PROXY``/``HTTPS_PROXY`` of the deployer's environment,
when it names one). ``list_versions`` names the live release only (what Heroku runs).
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.heroku import honoured, options, rendering, resources
from uno.deployment.adapters.platforms.heroku.client import API_URL, HerokuApi, HerokuError, failed, token_from
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
POLL_SECONDS = 1.0
HEALTH_CHECK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Target:
    chosen: options.HerokuOptions
    health_path: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The app's releases and builds, as Heroku lists them now."""

    app: str
    releases: list[dict[str, Any]]
    builds: list[dict[str, Any]]

    @property
    def current(self) -> dict[str, Any] | None:
        marked = [item for item in self.releases if item.get("current")]
        done = [item for item in self.releases if item.get("status") == "succeeded"]
        chosen = marked or done
        return max(chosen, key=lambda item: int(item["version"])) if chosen else None

    def release(self, release_id: str) -> dict[str, Any] | None:
        return next((item for item in self.releases if item["id"] == release_id), None)

    def own_builds(self, deployment_id: str) -> list[dict[str, Any]]:
        return [
            build
            for build in self.builds
            if (resources.parse_build_version((build.get("source_blob") or {}).get("version")) or ("",))[0]
            == deployment_id
        ]

    def built(self, slug_id: str | None) -> dict[str, Any] | None:
        """The succeeded uno-deploy build that made ``slug_id``."""
        return next(
            (
                build
                for build in self.builds
                if slug_id
                and (build.get("slug") or {}).get("id") == slug_id
                and build.get("status") == "succeeded"
                and resources.parse_build_version((build.get("source_blob") or {}).get("version"))
            ),
            None,
        )

    def version_set(self, release: Mapping[str, Any], environment: str, replicas: int, weight: int) -> VersionSet:
        """The version set ``release`` runs: the build of its slug (through config changes and rollbacks)."""
        build = self.built((release.get("slug") or {}).get("id"))
        origin = self.release(str((build or {}).get("release", {}).get("id", ""))) if build else None
        number = int((origin or release)["version"])
        found = resources.parse_build_version((build or {}).get("source_blob", {}).get("version")) or ("", "")
        return VersionSet(
            id=f"{self.app}-v{number}",
            app_name="",
            environment=environment,
            version=found[1],
            deployment_id=found[0],
            replicas=replicas,
            weight=weight,
        )

    def release_numbered(self, version_set_id: str) -> dict[str, Any] | None:
        head, _, number = version_set_id.rpartition("-v")
        if head != self.app or not number.isdigit():
            return None
        return next((item for item in self.releases if int(item["version"]) == int(number)), None)


class HerokuDriver:
    name = "heroku"
    capabilities = Capabilities(traffic_weights=False, traffic_stats=False)
    declaration = honoured.DECLARATION

    def __init__(self, environ: Mapping[str, str] | None = None, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._environ = environ if environ is not None else {}
        self._poll = poll_seconds
        self._targets: dict[tuple[str, str], Target] = {}

    def check(self, config: DeploymentConfig) -> Result[None]:
        chosen = self._chosen(config)
        return chosen if isinstance(chosen, Failure) else Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []  # Heroku builds and runs the source: nothing of this machine's

    def _chosen(self, config: DeploymentConfig) -> Result[options.HerokuOptions]:
        chosen = options.options_for(config)
        if isinstance(chosen, Failure):
            return chosen
        key = (config.app_name, config.environment.value)
        self._targets[key] = Target(chosen.value, config.network.health_check_path)
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
        secrets = {name: self._environ.get(name) for name in options.secret_names(config)}
        missing = sorted(name for name, value in secrets.items() if value is None)
        if missing:
            message = f"the secret {missing[0]} is not in the deployer's environment: Heroku's config var needs it"
            return Failure(ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": "secrets"}))

        async def create(api: HerokuApi) -> VersionSet:
            app = picked.app
            await self._app_checked(api, picked)
            await api.call(
                "PATCH", f"/apps/{app}/features/preboot", app, resources.preboot(resources.uses_preboot(config))
            )
            catalogue = await self._catalogue(api, picked)
            own = [build for build in catalogue.own_builds(release.deployment_id) if build["status"] != "failed"]
            build = own[-1] if own else None
            if build is None:
                live = await api.call("GET", f"/apps/{app}/config-vars", app)
                changed = resources.config_vars(config, {k: v for k, v in secrets.items() if v is not None}, live)
                if changed:
                    await api.call("PATCH", f"/apps/{app}/config-vars", app, changed)
                build = await self._build(api, picked, release)
            elif build["status"] == "pending":  # an interrupted attempt started it
                build = await self._built(api, picked, build["id"])
            catalogue = await self._catalogue(api, picked)
            current = catalogue.current
            if current is None or (current.get("slug") or {}).get("id") != (build.get("slug") or {}).get("id"):
                # built by an earlier attempt or deployment, no longer live: start it again
                await api.call("POST", f"/apps/{app}/releases", app, resources.rollback(build["release"]["id"]))
                catalogue = await self._catalogue(api, picked)
                current = catalogue.current
            await api.call("PATCH", f"/apps/{app}/formation", app, resources.formation(picked, replicas))
            assert current is not None  # a build that succeeded made a release
            found = catalogue.version_set(current, config.environment.value, replicas, 100)
            return replace(found, app_name=config.app_name)

        return await self._using(picked, create)

    async def _app_checked(self, api: HerokuApi, chosen: options.HerokuOptions) -> dict[str, Any]:
        """The app, refused before anything changes when it is not in the region or on the stack asked for."""
        app: dict[str, Any] = await api.call("GET", f"/apps/{chosen.app}", chosen.app)
        region = (app.get("region") or {}).get("name")
        if chosen.region and region != chosen.region:
            raise failed(
                f"the Heroku app {chosen.app} is in region {region}, not {chosen.region}: an app cannot move region",
                resource=chosen.app,
            )
        stack = (app.get("build_stack") or app.get("stack") or {}).get("name")
        if chosen.stack and stack != chosen.stack:
            raise failed(
                f"the Heroku app {chosen.app} builds on stack {stack}, not {chosen.stack}"
                f" (heroku stack:set {chosen.stack} -a {chosen.app} changes it)",
                resource=chosen.app,
            )
        return app

    async def _build(self, api: HerokuApi, chosen: options.HerokuOptions, release: Release) -> dict[str, Any]:
        app = chosen.app
        tarball = await asyncio.to_thread(_tarball, Path(chosen.source_dir))
        source = await api.call("POST", "/sources", app)
        await api.upload(source["source_blob"]["put_url"], tarball, app)
        body = resources.build(source["source_blob"]["get_url"], release.deployment_id, release.version)
        started = await api.call("POST", f"/apps/{app}/builds", app, body)
        return await self._built(api, chosen, started["id"])

    async def _built(self, api: HerokuApi, chosen: options.HerokuOptions, build_id: str) -> dict[str, Any]:
        """Poll the build until it succeeds (its answer) or fails (a PLATFORM_ERROR), within the build timeout."""
        app = chosen.app
        loop = asyncio.get_running_loop()
        deadline = loop.time() + chosen.build_timeout_seconds
        while True:
            build: dict[str, Any] = await api.call("GET", f"/apps/{app}/builds/{build_id}", build_id)
            if build["status"] == "succeeded" and build.get("release"):
                return build
            if build["status"] == "failed":
                raise failed(
                    f"the Heroku build {build_id} of {app} failed (its output: {build.get('output_stream_url', '')})",
                    resource=build_id,
                    call=f"GET /apps/{app}/builds/{build_id}",
                )
            if loop.time() + self._poll > deadline:
                raise HerokuError(
                    ErrorDetails(
                        ErrorCode.TIMEOUT,
                        f"the Heroku build {build_id} of {app} did not finish in {chosen.build_timeout_seconds}s",
                        {"resource": build_id},
                    )
                )
            await asyncio.sleep(self._poll)

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        async def scale(api: HerokuApi, target: Target) -> VersionSet:
            if not await self._is_live(api, target.chosen, version):
                return replace(version, replicas=0, weight=0)  # Heroku runs no dyno of a release that is not live
            await api.call(
                "PATCH",
                f"/apps/{target.chosen.app}/formation",
                target.chosen.app,
                resources.formation(target.chosen, replicas),
            )
            return replace(version, replicas=replicas)

        return await self._on(version.app_name, version.environment, scale)

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        wanted = [name for name, weight in weights.items() if weight > 0]
        if len(wanted) != 1:
            message = (
                f"Heroku runs one release at a time and cannot split traffic between releases (asked: {dict(weights)})"
            )
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"weights": dict(weights)}))

        async def switch(api: HerokuApi, target: Target) -> None:
            app = target.chosen.app
            catalogue = await self._catalogue(api, target.chosen)
            current = catalogue.current
            if current is not None and catalogue.version_set(current, environment, 0, 0).id == wanted[0]:
                return  # it serves already
            earlier = catalogue.release_numbered(wanted[0])
            if earlier is None:
                raise failed(f"the Heroku app {app} has no release {wanted[0]}", resource=wanted[0])
            await api.call("POST", f"/apps/{app}/releases", app, resources.rollback(earlier["id"]))

        return await self._on(app_name, environment, switch)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        async def health(api: HerokuApi, target: Target) -> VersionHealth:
            chosen = target.chosen
            app = chosen.app
            catalogue = await self._catalogue(api, chosen)
            current = catalogue.current
            if current is None or catalogue.version_set(current, version.environment, 0, 0).id != version.id:
                live = catalogue.version_set(current, version.environment, 0, 0).id if current else "nothing"
                return VersionHealth(0, max(version.replicas, 1), f"not the live release: Heroku runs {live}")
            formation = await api.call("GET", f"/apps/{app}/formation/{chosen.process_type}", app)
            wanted = int(formation.get("quantity", 0))
            dynos = [
                dyno
                for dyno in await api.list(f"/apps/{app}/dynos", app)
                if dyno.get("type") == chosen.process_type and (dyno.get("release") or {}).get("id") == current["id"]
            ]
            up = sum(1 for dyno in dynos if dyno.get("state") == "up")
            crashed = sum(1 for dyno in dynos if dyno.get("state") == "crashed")
            message = f"{up}/{wanted} {chosen.process_type} dyno(s) up" + (f", {crashed} crashed" if crashed else "")
            failing = wanted > 0 and crashed >= wanted
            if wanted == 0 or up < wanted:
                return VersionHealth(min(up, wanted), wanted, message, failing=failing)
            answered = await self._http_check(api, app, target.health_path)
            if answered:
                return VersionHealth(0, wanted, f"{message}; {answered}")
            return VersionHealth(up, wanted, message)

        return await self._on(version.app_name, version.environment, health)

    async def _http_check(self, api: HerokuApi, app: str, path: str) -> str:
        """Why the app's URL does not answer 2xx on ``path`` (empty when it does)."""
        found = await api.call("GET", f"/apps/{app}", app)
        url = str(found.get("web_url") or "").rstrip("/") + path
        scheme = "HTTPS" if url.startswith("https:") else "HTTP"
        proxy = self._environ.get(f"{scheme}_PROXY") or self._environ.get(f"{scheme.lower()}_proxy") or None
        try:
            async with httpx.AsyncClient(timeout=HEALTH_CHECK_TIMEOUT_SECONDS, proxy=proxy, trust_env=False) as plain:
                response = await plain.get(url)
        except httpx.HTTPError as error:
            return f"{url} did not answer: {error}"
        return "" if 200 <= response.status_code < 300 else f"{url} answered HTTP {response.status_code}"

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        message = "Heroku's Platform API reports no per-release request counts (the heroku platform measures none)"
        return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"version_set": version.id}))

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        """Stop the dynos when ``version`` is the live release; an older one runs nothing and stays in the history."""

        async def destroy(api: HerokuApi, target: Target) -> None:
            if await self._is_live(api, target.chosen, version):
                app = target.chosen.app
                await api.call("PATCH", f"/apps/{app}/formation", app, resources.formation(target.chosen, 0))

        return await self._on(version.app_name, version.environment, destroy)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        """Nothing to schedule: Heroku stopped the release's dynos when the next one went live."""
        return Success(None)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        async def listing(api: HerokuApi, target: Target) -> list[VersionSet]:
            chosen = target.chosen
            catalogue = await self._catalogue(api, chosen)
            current = catalogue.current
            if current is None:
                return []
            formation = await api.call("GET", f"/apps/{chosen.app}/formation/{chosen.process_type}", chosen.app)
            quantity = int(formation.get("quantity", 0))
            found = catalogue.version_set(current, environment, quantity, 100 if quantity else 0)
            return [replace(found, app_name=app_name)]

        return await self._on(app_name, environment, listing)

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """What a deploy would set (preboot, config vars, formation, the release) beside what the app has now.

        Reads only. Config vars are compared on the names this deploy would set and those
        uno-deploy set before (``resources.MANAGED``); the others are not the driver's.
        """
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value

        async def read(api: HerokuApi) -> list[LiveObject]:
            app = picked.app
            await self._app_checked(api, picked)
            feature = await api.call("GET", f"/apps/{app}/features/preboot", app)
            live_vars: dict[str, str] = await api.call("GET", f"/apps/{app}/config-vars", app)
            formation = await api.call("GET", f"/apps/{app}/formation/{picked.process_type}", app)
            catalogue = await self._catalogue(api, picked)
            current = catalogue.current
            running = catalogue.version_set(current, config.environment.value, 0, 0) if current else None
            names = options.secret_names(config)
            secrets = {name: self._environ.get(name, "<not set in the deployer's environment>") for name in names}
            wanted_vars = {**resources.plain_vars(config), **secrets}
            wanted_vars[resources.MANAGED] = ",".join(sorted(wanted_vars))
            managed = {name for name in str(live_vars.get(resources.MANAGED) or "").split(",") if name}
            shown = {name: live_vars[name] for name in sorted(set(wanted_vars) | managed) if name in live_vars}
            size = resources.formation(picked, config.resources.replicas_min)["updates"][0]
            return [
                LiveObject(
                    "AppFeature",
                    "preboot",
                    resources.preboot(resources.uses_preboot(config)),
                    {"enabled": feature["enabled"]},
                ),
                LiveObject("ConfigVars", app, wanted_vars, shown or None, secret_paths=tuple(names)),
                LiveObject(
                    "Formation",
                    picked.process_type,
                    size,
                    {"type": formation["type"], "quantity": formation["quantity"], "size": formation["size"]},
                ),
                LiveObject(
                    "Release",
                    app,
                    {"app_version": config.app_version},
                    {"app_version": running.version or "(not built by uno-deploy)"} if running else None,
                    note=f"a deploy builds {picked.source_dir} on Heroku and makes a new release",
                ),
            ]

        return await self._using(picked, read)

    async def _is_live(self, api: HerokuApi, chosen: options.HerokuOptions, version: VersionSet) -> bool:
        catalogue = await self._catalogue(api, chosen)
        current = catalogue.current
        return current is not None and catalogue.version_set(current, version.environment, 0, 0).id == version.id

    async def _catalogue(self, api: HerokuApi, chosen: options.HerokuOptions) -> Catalogue:
        app = chosen.app
        releases = await api.list(f"/apps/{app}/releases", app)
        builds = await api.list(f"/apps/{app}/builds", app)
        return Catalogue(app, releases, builds)

    async def _on(self, app: str, environment: str, work: Callable[[HerokuApi, Target], Awaitable[T]]) -> Result[T]:
        target = self._targets.get((app, environment))
        if target is None:
            message = f"the heroku driver was given no configuration for {app} in {environment} yet"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {}))
        return await self._using(target.chosen, lambda api: work(api, target))

    async def _using(self, chosen: options.HerokuOptions, work: Callable[[HerokuApi], Awaitable[T]]) -> Result[T]:
        """Run ``work`` with a client holding the token read now; every Heroku failure comes back as a value."""
        try:
            api = HerokuApi(
                token_from(self._environ, chosen.api_key_env), base_url=self._environ.get("HEROKU_API_URL") or API_URL
            )
        except HerokuError as error:
            return Failure(error.error)
        try:
            return Success(await work(api))
        except HerokuError as error:
            return Failure(error.error)
        finally:
            await api.aclose()


def _tarball(directory: Path) -> bytes:
    """The gzipped tarball of ``directory`` Heroku builds (``.git`` left out)."""
    if not directory.is_dir():
        raise failed(f"source_dir {directory} is not a directory", resource=str(directory))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if relative.parts[0] == ".git" or not path.is_file():
                continue
            archive.add(path, arcname=str(relative), recursive=False)
    return buffer.getvalue()
