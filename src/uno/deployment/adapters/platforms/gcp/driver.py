"""The ``gcp`` platform driver: version sets as Cloud Run revisions of one service, moved by traffic percents.

One Cloud Run service per application and environment; each release is a revision of it
with an explicit name (``resources.revision_name``), made by one ``services.patch`` that
changes the revision template and keeps every percent where it was (the new revision at
0%, reachable at its tag's URL). Moving traffic is one ``services.patch`` with every
revision's percent (``resources.traffic``), so blue-green, canary and rolling are the same
primitive, and a rollback inside the window is a switch to a revision that still runs.

Cloud Run revisions are immutable and Cloud Run scales them itself by load: a revision is
made at its full size (``replicas_min`` minimum instances, up to ``replicas_max`` with
auto_scaling), whatever size a strategy starts it at, and ``scale_version`` cannot resize
it. So rolling maps to: the new revision at full size, traffic moved in proportion to the
revisions' sizes (half and half for equal sizes), then all to the new one. A revision holds
no replica count the API reports: its health is its ``Ready`` condition (every instance
Cloud Run started passed the startup probe), counted as all or none of its minimum instances.

The very first revision of a new service takes all traffic as soon as it is ready: Cloud
Run routes every request somewhere, and nothing else serves yet. ``recreate`` deletes the
service with its last revision and makes it again.

State lives on Cloud Run, so it survives restarts: identity in labels and annotations on
the service and each revision template (``resources``), and the rollback window's end of a
revision kept warm in the service annotation ``uno-deployment/retire`` (JSON: revision -> end;
one annotation, since a key holds at most 63 characters after its prefix and a revision
name may be 63 itself), honoured by the next listing. Canary analysis
is on health only: this driver reads no request metrics (``Capabilities.traffic_stats``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.gcp import honoured, options, rendering, resources
from uno.deployment.adapters.platforms.gcp.client import CloudRun, GcpError, failed
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
# fields of a Service a client sets (the rest is output only): a patch sends them back as they are
WRITABLE = (
    "description",
    "labels",
    "annotations",
    "client",
    "clientVersion",
    "ingress",
    "launchStage",
    "binaryAuthorization",
    "template",
    "traffic",
    "scaling",
    "invokerIamDisabled",
    "defaultUriDisabled",
    "customAudiences",
)
# fields a Revision shares with the RevisionTemplate that made it
TEMPLATE = (
    "annotations",
    "scaling",
    "vpcAccess",
    "timeout",
    "serviceAccount",
    "containers",
    "volumes",
    "executionEnvironment",
    "encryptionKey",
    "maxInstanceRequestConcurrency",
    "sessionAffinity",
    "healthCheckDisabled",
    "nodeSelector",
)
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


class GcpDriver:
    name = "gcp"
    capabilities = Capabilities(traffic_weights=True, traffic_stats=False)
    declaration = honoured.DECLARATION

    def __init__(self, environ: Mapping[str, str] | None = None, *, now: Callable[[], datetime] | None = None) -> None:
        self._environ = dict(environ) if environ is not None else {}
        self._now = now or (lambda: datetime.now(UTC))
        self._targets: dict[tuple[str, str], options.GcpOptions] = {}
        self._client: CloudRun | None = None

    @property
    def client(self) -> CloudRun:
        if self._client is None:
            self._client = CloudRun(self._environ)
        return self._client

    def check(self, config: DeploymentConfig) -> Result[None]:
        chosen = self._chosen(config)
        return chosen if isinstance(chosen, Failure) else Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        return []  # Cloud Run runs the image: nothing of this machine's

    def _chosen(self, config: DeploymentConfig) -> Result[options.GcpOptions]:
        chosen = options.options_for(config)
        if isinstance(chosen, Failure):
            return chosen
        try:
            resources.size(config)
        except (resources.SizeError, quantities.QuantityError) as error:
            return Failure(ErrorDetails.validation("resources", str(error)))
        self._targets[(config.app_name, config.environment.value)] = chosen.value
        return chosen

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        chosen = self._chosen(release.config)
        if isinstance(chosen, Failure):
            return chosen
        return Success(rendering.render(release, chosen.value))

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """The service as a deploy of ``release`` would leave it, beside the service and serving revision now.

        A deploy makes a new revision and moves all traffic to it, so what the application
        looks like afterwards is the service with the release's template; now, it is the
        service with the template of the revision serving most. Bookkeeping is left out on
        both sides (the revision's name, the deployment id, rollback windows, the traffic
        list), and the live side keeps only the fields the wanted side sets (Cloud Run fills
        in defaults: concurrency, timeout, execution environment, its own labels). Reads only.
        """
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value
        wanted = _comparable(resources.service(config, picked, release.deployment_id, {}, {}))

        async def read(run: CloudRun) -> list[LiveObject]:
            found = await self._service(run, picked, config.app_name, config.environment.value)
            if found is None:
                return [LiveObject("Service", picked.service_path, wanted, None, note="no such service yet")]
            revisions = await self._revisions(run, picked, config.app_name, config.environment.value)
            weights = _weights(found)
            serving = max(revisions, key=lambda item: weights.get(item["name"].rsplit("/", 1)[1], 0), default=None)
            live = {**_writable(found), "template": _template_of(serving) if serving else found.get("template", {})}
            note = f"compared with revision {serving['name'].rsplit('/', 1)[1]}" if serving else ""
            return [LiveObject("Service", picked.service_path, wanted, _shaped(_comparable(live), wanted), note=note)]

        return await self._using(read)

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        config = release.config
        chosen = self._chosen(config)
        if isinstance(chosen, Failure):
            return chosen
        picked = chosen.value

        async def create(run: CloudRun) -> VersionSet:
            name = resources.revision_name(picked, config, release.deployment_id)
            tagged = resources.tags(config, release.deployment_id, picked.service, name)
            found = await self._service(run, picked, config.app_name, config.environment.value)
            if found is None:
                body = resources.service(config, picked, release.deployment_id, {name: 100}, tagged)
                operation = await run.create_service(picked.parent, picked.service, body)
                weight = 100
            else:
                existing = await run.get_revision(f"{picked.service_path}/revisions/{name}")
                if existing is not None:
                    if _identity(existing).get(resources.DEPLOYMENT_ID) != release.deployment_id:
                        raise failed(f"Cloud Run revision {name} exists and is not this deployment's", resource=name)
                    return _version_set(existing, _weights(found).get(name, 0))  # an interrupted attempt made it
                weights, tags = _weights(found), _tags(found)
                body = resources.service(
                    config, picked, release.deployment_id, weights, {**tags, **tagged}, found.get("annotations")
                )
                operation = await run.update_service(picked.service_path, {**_writable(found), **body})
                weight = 0
            await self._settled(run, "services.patch", picked.service_path, operation, name)
            made = await run.get_revision(f"{picked.service_path}/revisions/{name}")
            if made is None:
                raise failed(f"Cloud Run made no revision {name}", resource=picked.service_path)
            return _version_set(made, weight)

        return await self._using(create)

    async def _settled(self, run: CloudRun, call: str, path: str, operation: Any, revision: str) -> None:
        """Wait for the operation; a revision that failed to start is the health check's to report, not an error."""
        try:
            await run.wait(call, path, operation)
        except GcpError:
            if await run.get_revision(f"{path}/revisions/{revision}") is None:
                raise

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        async def scale(run: CloudRun, chosen: options.GcpOptions) -> VersionSet:
            found = await self._revision(run, chosen, version)
            high = int(found.get("scaling", {}).get("maxInstanceCount", 0) or 0)
            if high and replicas > high:
                message = (
                    f"Cloud Run revision {version.id} is immutable: it runs at most {high} instance(s), not {replicas}"
                    " (a new release makes a new revision)"
                )
                raise failed(message, resource=version.id)
            return _version_set(found, version.weight)  # Cloud Run sizes it between its min and max by load

        return await self._on(version.app_name, version.environment, scale)

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        async def switch(run: CloudRun, chosen: options.GcpOptions) -> None:
            found = await self._service(run, chosen, app_name, environment)
            if found is None:
                raise failed(f"Cloud Run service {chosen.service_path} does not exist", resource=chosen.service_path)
            ours = {
                item["name"].rsplit("/", 1)[1] for item in await self._revisions(run, chosen, app_name, environment)
            }
            for name in weights:
                if name not in ours:
                    raise failed(f"version set {name} is not a revision of {chosen.service_path}", version_set=name)
            wanted = resources.normalised(weights)
            if not wanted:
                message = "Cloud Run routes every request to some revision: give at least one a weight"
                raise failed(message, resource=chosen.service_path)
            tags = {name: tag for name, tag in _tags(found).items() if name in ours}
            windows = {name: when for name, when in _retiring(found).items() if name not in wanted}
            notes = _with_retiring(found, windows)  # traffic back before its rollback window ended: it stays
            body = {**_writable(found), "annotations": notes, "traffic": resources.traffic(wanted, tags)}
            operation = await run.update_service(chosen.service_path, body)
            await run.wait("services.patch", chosen.service_path, operation)

        return await self._on(app_name, environment, switch)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        async def health(run: CloudRun, chosen: options.GcpOptions) -> VersionHealth:
            found = await self._revision(run, chosen, version)
            total = max(1, int(found.get("scaling", {}).get("minInstanceCount", 0) or 0))
            ready: dict[str, Any] = next(
                (item for item in found.get("conditions", []) if item.get("type") == "Ready"), {}
            )
            state = ready.get("state", "CONDITION_PENDING")
            said = ready.get("message") or ready.get("revisionReason") or ready.get("reason") or ""
            if state == "CONDITION_SUCCEEDED":
                return VersionHealth(total, total, "Cloud Run revision ready")
            message = f"Cloud Run revision {state.removeprefix('CONDITION_').lower()}" + (f": {said}" if said else "")
            return VersionHealth(0, total, message, failing=state == "CONDITION_FAILED")

        return await self._on(version.app_name, version.environment, health)

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        message = "the gcp driver reads no request metrics: canary analysis on Cloud Run is on health only"
        return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"version_set": version.id}))

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        async def destroy(run: CloudRun, chosen: options.GcpOptions) -> None:
            path = f"{chosen.service_path}/revisions/{version.id}"
            found = await run.get_revision(path)
            if found is None or not _same_release(found, version):
                return  # gone already
            await self._remove(run, chosen, version.app_name, version.environment, version.id)

        return await self._on(version.app_name, version.environment, destroy)

    async def _remove(self, run: CloudRun, chosen: options.GcpOptions, app: str, environment: str, name: str) -> None:
        """Take the revision out of the traffic (and its tag), then delete it; the last one goes with its service.

        A revision the service's template names (the newest, e.g. a release that failed) is
        replaced there first by the template of the revision serving most, so the service
        would not make it again.
        """
        found = await self._service(run, chosen, app, environment)
        if found is None:
            return
        revisions = {
            item["name"].rsplit("/", 1)[1]: item for item in await self._revisions(run, chosen, app, environment)
        }
        weights = _weights(found)
        if list(revisions) == [name]:  # nothing else would serve: the service goes with its last revision
            operation = await run.delete_service(chosen.service_path)
            await run.wait("services.delete", chosen.service_path, operation)
            return
        rest = {revision: weight for revision, weight in weights.items() if revision != name}
        if weights.get(name) and not rest:
            message = f"Cloud Run revision {name} takes all traffic: route it elsewhere before removing it"
            raise failed(message, resource=name)
        tags = {revision: tag for revision, tag in _tags(found).items() if revision != name and revision in revisions}
        notes = _with_retiring(
            found, {revision: when for revision, when in _retiring(found).items() if revision != name}
        )
        body = {
            **_writable(found),
            "annotations": notes,
            "traffic": resources.traffic(resources.normalised(rest), tags),
        }
        if found.get("template", {}).get("revision") == name:
            others = [revision for revision in revisions if revision != name]
            successor = max(
                others, key=lambda revision: (rest.get(revision, 0), revisions[revision].get("createTime", ""))
            )
            body["template"] = _template_of(revisions[successor])
        if body != _writable(found):
            operation = await run.update_service(chosen.service_path, body)
            await run.wait("services.patch", chosen.service_path, operation)
        path = f"{chosen.service_path}/revisions/{name}"
        operation = await run.delete_revision(path)
        await run.wait("revisions.delete", path, operation)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        async def retire(run: CloudRun, chosen: options.GcpOptions) -> None:
            await self._revision(run, chosen, version)
            found = await self._service(run, chosen, version.app_name, version.environment)
            if found is None:
                raise failed(f"Cloud Run service {chosen.service_path} does not exist", resource=chosen.service_path)
            when = (self._now() + timedelta(seconds=after)).isoformat(timespec="seconds")
            notes = _with_retiring(found, {**_retiring(found), version.id: when})
            operation = await run.update_service(chosen.service_path, {**_writable(found), "annotations": notes})
            await run.wait("services.patch", chosen.service_path, operation)

        return await self._on(version.app_name, version.environment, retire)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        async def listing(run: CloudRun, chosen: options.GcpOptions) -> list[VersionSet]:
            found = await self._service(run, chosen, app_name, environment)
            if found is None:
                return []
            weights, windows = _weights(found), _retiring(found)
            kept = []
            for revision in await self._revisions(run, chosen, app_name, environment):
                name = revision["name"].rsplit("/", 1)[1]
                due = _moment(windows.get(name))
                if due is not None and due <= self._now() and not weights.get(name):
                    await self._remove(run, chosen, app_name, environment, name)  # its rollback window has passed
                    continue
                kept.append(_version_set(revision, weights.get(name, 0)))
            return sorted(kept, key=lambda item: item.id)

        return await self._on(app_name, environment, listing)

    async def _service(
        self, run: CloudRun, chosen: options.GcpOptions, app: str, environment: str
    ) -> dict[str, Any] | None:
        """The live service if uno-deploy made it for this application (one it did not is never touched)."""
        found = await run.get_service(chosen.service_path)
        if found is None:
            return None
        labels = found.get("labels", {})
        if labels.get(resources.MANAGED_BY) != resources.MANAGER:
            raise failed(
                f"Cloud Run service {chosen.service_path} exists and is not managed by uno-deploy",
                resource=chosen.service_path,
            )
        notes = _identity(found.get("template", {}))
        if (notes.get(resources.APP), notes.get(resources.ENVIRONMENT)) != (app, environment):
            raise failed(
                f"Cloud Run service {chosen.service_path} belongs to another application or environment",
                resource=chosen.service_path,
            )
        return found

    async def _revisions(
        self, run: CloudRun, chosen: options.GcpOptions, app: str, environment: str
    ) -> list[dict[str, Any]]:
        """The service's revisions this driver made for the application and environment."""
        found = await run.list_revisions(chosen.service_path)
        return [
            item
            for item in found
            if item.get("labels", {}).get(resources.MANAGED_BY) == resources.MANAGER
            and _identity(item).get(resources.APP) == app
            and _identity(item).get(resources.ENVIRONMENT) == environment
        ]

    async def _revision(self, run: CloudRun, chosen: options.GcpOptions, version: VersionSet) -> dict[str, Any]:
        found = await run.get_revision(f"{chosen.service_path}/revisions/{version.id}")
        if found is None or not _same_release(found, version):
            raise failed(f"version set {version.id} ({version.version}) no longer runs in {chosen.service_path}")
        return found

    async def _on(
        self, app: str, environment: str, work: Callable[[CloudRun, options.GcpOptions], Awaitable[T]]
    ) -> Result[T]:
        chosen = self._targets.get((app, environment))
        if chosen is None:
            message = f"the gcp driver was given no configuration for {app} in {environment} yet"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {}))
        return await self._using(lambda run: work(run, chosen))

    async def _using(self, work: Callable[[CloudRun], Awaitable[T]]) -> Result[T]:
        """Run ``work`` with the client; every Cloud Run failure comes back as a value."""
        try:
            return Success(await work(self.client))
        except GcpError as error:
            return Failure(error.error)


def _template_of(revision: Mapping[str, Any]) -> dict[str, Any]:
    """The ``RevisionTemplate`` that makes ``revision`` as it is (Cloud Run's own labels left out)."""
    body = {key: revision[key] for key in TEMPLATE if key in revision}
    body["labels"] = {key: value for key, value in revision.get("labels", {}).items() if "googleapis.com" not in key}
    body["revision"] = str(revision["name"]).rsplit("/", 1)[-1]
    return body


def _retiring(found: Mapping[str, Any]) -> dict[str, str]:
    """Revision -> when its rollback window ends (ISO time), from the service's annotation."""
    try:
        windows = json.loads(found.get("annotations", {}).get(resources.RETIRE, "{}"))
    except json.JSONDecodeError:
        return {}
    return {str(name): str(when) for name, when in windows.items()} if isinstance(windows, dict) else {}


def _with_retiring(found: Mapping[str, Any], windows: Mapping[str, str]) -> dict[str, str]:
    """The service's annotations with ``windows`` as the rollback windows (none: no annotation)."""
    notes = {key: value for key, value in found.get("annotations", {}).items() if key != resources.RETIRE}
    if windows:
        notes[resources.RETIRE] = json.dumps(dict(sorted(windows.items())), separators=(",", ":"))
    return notes


def _comparable(service: Mapping[str, Any]) -> dict[str, Any]:
    """A service without the driver's bookkeeping: what two releases of one configuration share."""
    body = {key: value for key, value in service.items() if key not in ("traffic", "annotations")}
    template = dict(body.get("template", {}))
    template.pop("revision", None)
    template["labels"] = {
        key: value for key, value in template.get("labels", {}).items() if key != resources.DEPLOYMENT_ID
    }
    template["annotations"] = {
        key: value
        for key, value in template.get("annotations", {}).items()
        if key != resources.NOTE + resources.DEPLOYMENT_ID
    }
    body["template"] = template
    return body


def _shaped(live: Any, wanted: Any) -> Any:
    """``live`` with only the fields ``wanted`` has (maps and lists of maps, item by item)."""
    if isinstance(live, dict) and isinstance(wanted, dict):
        return {key: _shaped(value, wanted[key]) for key, value in live.items() if key in wanted}
    if isinstance(live, list) and isinstance(wanted, list) and len(live) == len(wanted):
        return [_shaped(item, other) for item, other in zip(live, wanted, strict=True)]
    return live


def _writable(found: Mapping[str, Any]) -> dict[str, Any]:
    return {key: found[key] for key in WRITABLE if key in found}


def _identity(found: Mapping[str, Any]) -> dict[str, str]:
    """The exact identity values a revision (or a template) carries in its annotations."""
    notes = found.get("annotations", {})
    return {key.removeprefix(resources.NOTE): value for key, value in notes.items() if key.startswith(resources.NOTE)}


def _weights(found: Mapping[str, Any]) -> dict[str, int]:
    """Revision -> percent as the service routes it (a LATEST entry is the latest ready revision)."""
    weights: dict[str, int] = {}
    for entry in found.get("traffic", []):
        percent = int(entry.get("percent", 0) or 0)
        if entry.get("type") == LATEST:
            name = str(found.get("latestReadyRevision", "")).rsplit("/", 1)[-1]
        else:
            name = str(entry.get("revision", ""))
        if name and percent:
            weights[name] = weights.get(name, 0) + percent
    return weights


def _tags(found: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(entry["revision"]): str(entry["tag"])
        for entry in found.get("traffic", [])
        if entry.get("tag") and entry.get("revision")
    }


def _same_release(found: Mapping[str, Any], version: VersionSet) -> bool:
    return not version.deployment_id or _identity(found).get(resources.DEPLOYMENT_ID) == version.deployment_id


def _version_set(found: Mapping[str, Any], weight: int) -> VersionSet:
    identity = _identity(found)
    return VersionSet(
        id=str(found["name"]).rsplit("/", 1)[-1],
        app_name=identity.get(resources.APP, ""),
        environment=identity.get(resources.ENVIRONMENT, ""),
        version=identity.get(resources.VERSION, ""),
        deployment_id=identity.get(resources.DEPLOYMENT_ID, ""),
        replicas=int(found.get("scaling", {}).get("minInstanceCount", 0) or 0),
        weight=weight,
    )


def _moment(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
