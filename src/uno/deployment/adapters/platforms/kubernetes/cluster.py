"""The part of the Kubernetes API the driver uses, through the official client's asyncio API.

This is the only module that imports ``kubernetes``. It speaks plain dicts (the JSON the
API sends), so the rest of the driver works on data, whatever the kind. Requests go
through ``kubernetes.aio``'s ``ApiClient`` (its kubeconfig loading, TLS, tokens and exec
credential plugins); nothing shells out.

Nothing it does not own is changed or deleted: ``apply`` and ``delete`` first read the
object and go on only when it is absent or carries all of the caller's ``owner`` labels
(the field manager's ``managed-by`` label and the application's and environment's); any
other object of that name is a ``CONFLICT`` that names it. A forced server-side apply
would otherwise take over, say, somebody's ``web-blue`` Deployment in a shared namespace.

Every failure becomes a ``ClusterError`` carrying ``ErrorDetails`` that name the object and
what was being done, in one place (``_translated``): 403, 404, 409, 422 and the rest by
their status and the API's own message, a timeout as ``TIMEOUT``, a refused or broken
connection as ``UNAVAILABLE``. No exception of the client library leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes.aio import client, config
from kubernetes.aio.config.config_exception import ConfigException

from uno.core.errors import ErrorCode, ErrorDetails

REQUEST_TIMEOUT = 30.0
FIELD_MANAGER = "uno-deploy"
MANAGED_BY = "app.kubernetes.io/managed-by"
PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
    "HorizontalPodAutoscaler": "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses",
    "Pod": "/api/v1/namespaces/{namespace}/pods",
}
_VERBS = {"GET": "read", "PATCH": "change", "DELETE": "delete"}


class ClusterError(Exception):
    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


def kubeconfig_path(environ: Mapping[str, str]) -> Path:
    """Where the kubeconfig is: the first file of ``KUBECONFIG``, else ``~/.kube/config``."""
    listed = [part for part in environ.get("KUBECONFIG", "").split(os.pathsep) if part]
    if listed:
        return Path(listed[0]).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".kube" / "config"


class Cluster:
    """One connection to one cluster (a kube context); close it when done."""

    def __init__(self, api: client.ApiClient, where: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self._api = api
        self.where = where
        self._timeout = timeout

    @classmethod
    async def connect(cls, kubeconfig: Path, context: str | None, *, timeout: float = REQUEST_TIMEOUT) -> Cluster:
        configuration = client.Configuration()
        if not await asyncio.to_thread(kubeconfig.is_file):  # one line here: the client would also log a warning
            message = f"cannot use the kubeconfig {kubeconfig}: there is no such file (KUBECONFIG, ~/.kube/config)"
            raise ClusterError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"kubeconfig": str(kubeconfig)}))
        try:
            await config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), context=context, client_configuration=configuration, persist_config=False
            )
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as error:
            which = f"context {context!r} of " if context else ""
            message = f"cannot use {which}the kubeconfig {kubeconfig}: {error}"
            raise ClusterError(
                ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"kubeconfig": str(kubeconfig)})
            ) from None
        where = f"{configuration.host} ({context or 'current context'})"
        return cls(client.ApiClient(configuration), where, timeout)

    async def close(self) -> None:
        await self._api.close()  # type: ignore[no-untyped-call]

    async def apply(self, manifest: Mapping[str, Any], *, owner: Mapping[str, str]) -> dict[str, Any]:
        """Server-side apply of ``manifest`` (field manager ``uno-deploy``, taking over conflicting fields).

        Only over an object ``owner`` owns (see the module's doc), else ``CONFLICT``.
        """
        kind, metadata = manifest["kind"], manifest["metadata"]
        await self.owned(kind, metadata["namespace"], metadata["name"], owner)
        path = _object_path(kind, metadata["namespace"], metadata["name"])
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        return await self._call(
            "PATCH", path, manifest, query=query, body=dict(manifest), content_type="application/apply-patch+yaml"
        )

    async def dry_run_apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """The object as a server-side apply of ``manifest`` would leave it, storing nothing (``dryRun=All``).

        The API server runs its defaulting, validation and admission as for a real apply,
        so the answer is what a deploy would write, defaults filled in.
        """
        kind, metadata = manifest["kind"], manifest["metadata"]
        path = _object_path(kind, metadata["namespace"], metadata["name"])
        query = [("fieldManager", FIELD_MANAGER), ("force", "true"), ("dryRun", "All")]
        return await self._call(
            "PATCH", path, manifest, query=query, body=dict(manifest), content_type="application/apply-patch+yaml"
        )

    async def merge_patch(self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (scaling, switching a selector): ``None`` values remove keys."""
        what = _reference(kind, namespace, name)
        query = [("fieldManager", FIELD_MANAGER)]
        path = _object_path(kind, namespace, name)
        return await self._call(
            "PATCH", path, what, query=query, body=dict(patch), content_type="application/merge-patch+json"
        )

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        try:
            return await self._call("GET", _object_path(kind, namespace, name), _reference(kind, namespace, name))
        except ClusterError as failed:
            if failed.error.context.get("status") == 404:
                return None
            raise

    async def select(self, kind: str, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The objects of ``kind`` in ``namespace`` that carry all of ``labels``."""
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        path = PATHS[kind].format(namespace=namespace)
        what = {"kind": kind, "metadata": {"namespace": namespace, "name": f"({selector})"}}
        listed = await self._call("GET", path, what, query=[("labelSelector", selector)])
        items: list[dict[str, Any]] = listed.get("items", [])
        return items

    async def delete(self, kind: str, namespace: str, name: str, *, owner: Mapping[str, str]) -> bool:
        """Delete in the foreground (its pods go first); False when it was already gone.

        Only an object ``owner`` owns (see the module's doc), else ``CONFLICT``.
        """
        if await self.owned(kind, namespace, name, owner) is None:
            return False
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
        try:
            await self._call(
                "DELETE", _object_path(kind, namespace, name), _reference(kind, namespace, name), body=body
            )
        except ClusterError as failed:
            if failed.error.context.get("status") == 404:
                return False
            raise
        return True

    async def owned(self, kind: str, namespace: str, name: str, owner: Mapping[str, str]) -> dict[str, Any] | None:
        """The object if ``owner`` owns it, None if there is none; ``CONFLICT`` if somebody else's."""
        found = await self.get(kind, namespace, name)
        if found is None:
            return None
        labels = (found.get("metadata") or {}).get("labels") or {}
        differing = {key: labels.get(key) for key, value in owner.items() if labels.get(key) != value}
        if not differing:
            return found
        named = _name(_reference(kind, namespace, name))
        if MANAGED_BY in differing:
            why = "is not managed by uno-deploy"
        else:
            theirs = ", ".join(f"{key}={labels.get(key)}" for key in owner if key != MANAGED_BY)
            why = f"belongs to another application or environment ({theirs})"
        message = f"{named} {why}: give the application another name or namespace (custom_settings.namespace)"
        raise ClusterError(ErrorDetails(ErrorCode.CONFLICT, message, {"object": f"{kind}/{name}"}))

    async def pod_log(self, namespace: str, name: str, container: str, *, tail: int, previous: bool) -> str:
        """The last ``tail`` lines a pod's container wrote (``previous``: its last run, before it exited)."""
        path = f"{PATHS['Pod'].format(namespace=namespace)}/{name}/log"
        query = [("container", container), ("tailLines", str(tail)), ("previous", "true" if previous else "false")]
        what = {"kind": "Pod", "metadata": {"namespace": namespace, "name": name}}
        return str((await self._call("GET", path, what, query=query, accept="text/plain", parse=False))["text"])

    async def _call(
        self,
        method: str,
        path: str,
        what: Mapping[str, Any],
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        parse: bool = True,
    ) -> dict[str, Any]:
        """The API's JSON answer (``parse``), or ``{"text": ...}`` for a text one (a log)."""
        async with self._translated(method, what):
            headers = {"Accept": accept, "Content-Type": content_type}
            request = await self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            async with asyncio.timeout(self._timeout):
                response = await self._api.call_api(*request, _request_timeout=self._timeout)
                data = await response.read()  # type: ignore[no-untyped-call]
            if not 200 <= response.status <= 299:
                raise _refused(method, what, response.status, response.reason, data)
            if not parse:
                return {"text": data.decode(errors="replace")}
            parsed: dict[str, Any] = json.loads(data) if data else {}
            return parsed

    @contextlib.asynccontextmanager
    async def _translated(self, method: str, what: Mapping[str, Any]) -> AsyncIterator[None]:
        """The one place where the client's and the network's exceptions become ``ErrorDetails``."""
        named = _name(what)
        doing = f"{_VERBS.get(method, method)} {named}"
        try:
            yield
        except ClusterError:
            raise
        except client.ApiException as error:
            raise _refused(method, what, error.status or 0, error.reason, (error.body or "").encode()) from None
        except TimeoutError:
            message = f"the Kubernetes API at {self.where} did not answer within {self._timeout:g}s ({doing})"
            raise ClusterError(ErrorDetails(ErrorCode.TIMEOUT, message, {"object": named})) from None
        except (aiohttp.ClientError, OSError) as error:
            message = f"cannot reach the Kubernetes API at {self.where} ({doing}): {error}"
            raise ClusterError(ErrorDetails(ErrorCode.UNAVAILABLE, message, {"object": named})) from None
        except ValueError as error:  # an answer that is not JSON
            message = f"the Kubernetes API at {self.where} answered nonsense ({doing}): {error}"
            raise ClusterError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"object": named})) from None


def _refused(method: str, what: Mapping[str, Any], status: int, reason: str | None, data: bytes) -> ClusterError:
    """The API said no: its status and its own message, naming the object."""
    named = _name(what)
    detail = reason or ""
    with contextlib.suppress(ValueError, AttributeError):
        detail = json.loads(data).get("message") or detail
    why = {
        401: "the kubeconfig's credentials were refused",
        403: "forbidden",
        404: "not found",
        409: "conflict",
        422: "invalid",
    }.get(status, f"HTTP {status}")
    message = f"cannot {_VERBS.get(method, method)} {named}: {why}: {detail}".rstrip(": ")
    return ClusterError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"object": named, "status": status}))


def _reference(kind: str, namespace: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"namespace": namespace, "name": name}}


def _name(what: Mapping[str, Any]) -> str:
    metadata = what.get("metadata", {})
    return f"{what.get('kind', '?')} {metadata.get('name', '?')} in namespace {metadata.get('namespace', '?')}"


def _object_path(kind: str, namespace: str, name: str) -> str:
    return f"{PATHS[kind].format(namespace=namespace)}/{name}"
