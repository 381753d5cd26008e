"""The status poll's own path: ``GET /api/deployments/status/{id}`` answered before routing.

Clients poll status far more than they call anything else, so its answer skips what the
general route pays for on every request (matching some thirty routes, solving
dependencies, validating the response twice): the same guard, the same service call,
the same body and the same problems, with no framework in between. The FastAPI route
stays, for the OpenAPI schema and as the reference the tests compare this path with.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from uno.core.result import Failure
from uno.deployment.domain.deployments import DeploymentProgress
from uno.deployment.entrypoints.http.problems import Problem, problem_response
from uno.deployment.entrypoints.http.schemas import DeploymentStatusOut
from uno.deployment.ports.access import Scope as AccessScope

PREFIX = "/api/deployments/status/"
_JSON_HEADERS = [(b"content-type", b"application/json")]


def status_out(progress: DeploymentProgress) -> DeploymentStatusOut:
    return DeploymentStatusOut(
        deployment_id=progress.deployment_id.value,
        status=progress.status.value,
        success=progress.success,
        message=progress.message,
        progress=progress.progress,
        current_stage=progress.current_stage,
        current_task=progress.current_task,
        current_task_message=progress.current_task_message,
        created_at=progress.created_at,
        started_at=progress.started_at,
        finished_at=progress.finished_at,
        pipeline_id=progress.pipeline_id.value if progress.pipeline_id else None,
        not_honoured=[dict(item) for item in progress.not_honoured],
    )


class FastStatus:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        deployment_id = path[len(PREFIX) :]
        if not deployment_id or "/" in deployment_id:
            await self.app(scope, receive, send)
            return
        authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        state = self.owner.state
        try:
            await state.guard.check_header(authorization.decode("latin-1") if authorization else None, AccessScope.READ)
        except Problem as problem:
            await problem_response(problem.error, problem.headers)(scope, receive, send)
            return
        found = await state.container.deployment_service.get_status(deployment_id)
        if isinstance(found, Failure):
            await problem_response(found.error)(scope, receive, send)
            return
        body = status_out(found.value).model_dump_json().encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
