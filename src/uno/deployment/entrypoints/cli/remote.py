"""The remote backend: the same calls, made to an API server (``uno-deploy serve``) over HTTP.

Answers are turned back into the values the embedded backend gives, and problems
(RFC 9457) into the ``ErrorDetails`` the service sent, so the CLI prints the same line
and ends with the same exit code either way. A server that cannot be reached (refused,
timed out, not an uno-deployment server) is ``UNAVAILABLE``: exit code 3.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from datetime import datetime
from typing import Any

import httpx

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.differences import Diff
from uno.deployment.domain.ids import PipelineId, TaskId
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.entrypoints.cli.backends import Deployment
from uno.deployment.ports.approvals import Decision
from uno.deployment.services.planning import DeploymentPlan

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code"})
_CODES_BY_STATUS = {
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.VALIDATION_ERROR,
    422: ErrorCode.VALIDATION_ERROR,
    502: ErrorCode.PLATFORM_ERROR,
    503: ErrorCode.UNAVAILABLE,
    504: ErrorCode.TIMEOUT,
}


class RemoteBackend:
    def __init__(self, server: str, token: str | None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._server = server.rstrip("/")
        self._token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(base_url=self._server, headers=headers, timeout=TIMEOUT, transport=transport)

    @property
    def where(self) -> str:
        return f"the server at {self._server}"

    @property
    def runs_here(self) -> bool:
        return False

    async def wait_ended(self, deployment_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)  # it runs on the server: look again then

    async def create_config(self, values: dict[str, Any]) -> Result[DeploymentConfig]:
        answered = await self._call("POST", "/api/deployments/configs", values)
        return answered if isinstance(answered, Failure) else Success(DeploymentConfig.from_document(answered.value))

    async def list_configs(
        self, app_name: str | None, environment: str | None, limit: int
    ) -> Result[list[DeploymentConfig]]:
        query = _query(app_name=app_name, environment=environment, limit=limit)
        answered = await self._call("GET", "/api/deployments/configs", params=query)
        if isinstance(answered, Failure):
            return answered
        return Success([DeploymentConfig.from_document(item) for item in answered.value["items"]])

    async def get_config(self, config_id: str) -> Result[DeploymentConfig]:
        answered = await self._call("GET", f"/api/deployments/configs/{_segment(config_id)}")
        return answered if isinstance(answered, Failure) else Success(DeploymentConfig.from_document(answered.value))

    async def update_config(
        self, config_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> Result[DeploymentConfig]:
        body = {**changes, **({"expected_version": expected_version} if expected_version is not None else {})}
        answered = await self._call("PATCH", f"/api/deployments/configs/{_segment(config_id)}", body)
        return answered if isinstance(answered, Failure) else Success(DeploymentConfig.from_document(answered.value))

    async def replace_config(self, config_id: str, values: dict[str, Any]) -> Result[DeploymentConfig]:
        answered = await self._call("PUT", f"/api/deployments/configs/{_segment(config_id)}", values)
        return answered if isinstance(answered, Failure) else Success(DeploymentConfig.from_document(answered.value))

    async def delete_config(self, config_id: str) -> Result[None]:
        answered = await self._call("DELETE", f"/api/deployments/configs/{_segment(config_id)}")
        return answered if isinstance(answered, Failure) else Success(None)

    async def plan(self, config_id: str, *, live: bool = True) -> Result[DeploymentPlan]:
        answered = await self._call("POST", "/api/deployments/plan", {"config_id": config_id, "live": live})
        return answered if isinstance(answered, Failure) else Success(DeploymentPlan.from_document(answered.value))

    async def plan_values(self, values: dict[str, Any], *, live: bool = True) -> Result[DeploymentPlan]:
        answered = await self._call("POST", "/api/deployments/plan", {"config": values, "live": live})
        return answered if isinstance(answered, Failure) else Success(DeploymentPlan.from_document(answered.value))

    async def diff(self, config_id: str) -> Result[Diff]:
        answered = await self._call("POST", "/api/deployments/diff", {"config_id": config_id})
        return answered if isinstance(answered, Failure) else Success(Diff.from_document(answered.value))

    async def diff_values(self, values: dict[str, Any]) -> Result[Diff]:
        answered = await self._call("POST", "/api/deployments/diff", {"config": values})
        return answered if isinstance(answered, Failure) else Success(Diff.from_document(answered.value))

    async def deploy(
        self, config_id: str, description: str, *, strict: bool | None = None, config_version: int | None = None
    ) -> Result[Deployment]:
        body: dict[str, Any] = {"config_id": config_id, "description": description}
        if strict is not None:
            body["strict"] = strict
        if config_version is not None:
            body["config_version"] = config_version
        return await self._started(await self._call("POST", "/api/deployments/deploy", body))

    async def rollback(self, deployment_id: str, to: str | None, restore_database: bool) -> Result[Deployment]:
        body = {"deployment_id": deployment_id, "to": to, "restore_database": restore_database}
        return await self._started(await self._call("POST", "/api/deployments/rollback", body))

    async def _started(self, accepted: Result[Any]) -> Result[Deployment]:
        if isinstance(accepted, Failure):
            return accepted
        return await self.deployment(str(accepted.value["deployment_id"]))

    async def deployment(self, deployment_id: str) -> Result[Deployment]:
        return _deployment(await self._call("GET", f"/api/deployments/{_segment(deployment_id)}"))

    async def deployments(self, app_name: str | None, environment: str | None, limit: int) -> Result[list[Deployment]]:
        query = _query(app_name=app_name, environment=environment, limit=limit)
        answered = await self._call("GET", "/api/deployments", params=query)
        if isinstance(answered, Failure):
            return answered
        return Success([Deployment.from_document(item) for item in answered.value["items"]])

    async def pipeline(self, pipeline_id: str) -> Result[Pipeline]:
        answered = await self._call("GET", f"/api/pipelines/{_segment(pipeline_id)}")
        return answered if isinstance(answered, Failure) else Success(Pipeline.from_document(answered.value))

    async def cancel(self, deployment_id: str, reason: str, *, by: str | None = None) -> Result[Deployment]:
        """The server names the caller by its token; ``by`` is not the caller's to say."""
        path = f"/api/deployments/{_segment(deployment_id)}/cancel"
        return _deployment(await self._call("POST", path, {"reason": reason}))

    async def promote(self, deployment_id: str, full: bool) -> Result[Deployment]:
        path = f"/api/deployments/{_segment(deployment_id)}/promote"
        return _deployment(await self._call("POST", path, {"full": full}))

    async def abort(self, deployment_id: str, reason: str) -> Result[Deployment]:
        path = f"/api/deployments/{_segment(deployment_id)}/abort"
        return _deployment(await self._call("POST", path, {"reason": reason}))

    async def decide(self, pipeline_id: str, task_id: str, approved: bool, comment: str) -> Result[Decision]:
        verb = "approve" if approved else "reject"
        path = f"/api/pipelines/{_segment(pipeline_id)}/tasks/{_segment(task_id)}/{verb}"
        answered = await self._call("POST", path, {"comment": comment})
        if isinstance(answered, Failure):
            return answered
        document = answered.value
        return Success(
            Decision(
                PipelineId.stored(document["pipeline_id"]),
                TaskId.stored(document["task_id"]),
                bool(document["approved"]),
                str(document["by"]),
                datetime.fromisoformat(document["at"]),
                str(document.get("comment", "")),
            )
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> Result[Any]:
        try:
            response = await self._client.request(method, path, json=body, params=params)
        except httpx.TimeoutException:
            return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, f"{self.where} did not answer in time"))
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, f"cannot reach {self.where}: {reason}"))
        if response.status_code == 204:
            return Success(None)
        document = _json(response)
        if response.is_success and document is not None:
            return Success(document)
        return Failure(self._problem(response, document))

    def _problem(self, response: httpx.Response, document: Any) -> ErrorDetails:
        is_problem = isinstance(document, dict) and isinstance(document.get("detail"), str)
        if not is_problem or response.is_success:
            message = (
                f"{self.where} did not answer as an uno-deployment API server does "
                f"(HTTP {response.status_code}, {response.headers.get('content-type', 'no content type')})"
            )
            return ErrorDetails(ErrorCode.UNAVAILABLE, message)
        code = _code(document.get("code"), response.status_code)
        message = document["detail"]
        if code is ErrorCode.UNAUTHENTICATED and not self._token:
            message += " (give --token or set UNO_DEPLOY_TOKEN)"
        context = {name: value for name, value in document.items() if name not in _PROBLEM_MEMBERS}
        return ErrorDetails(code, message, context)


def _code(given: Any, status: int) -> ErrorCode:
    try:
        return ErrorCode(given)
    except ValueError:
        return _CODES_BY_STATUS.get(status, ErrorCode.INTERNAL_ERROR)


def _json(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _deployment(answered: Result[Any]) -> Result[Deployment]:
    return answered if isinstance(answered, Failure) else Success(Deployment.from_document(answered.value))


def _query(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _segment(value: str) -> str:
    """An id as one path segment: anything that could change the path is escaped."""
    return urllib.parse.quote(value, safe="") or "-"
