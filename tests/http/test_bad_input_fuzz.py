"""A bounded, deterministic bad-input run against every route, on SQLite and PostgreSQL, auth on.

Each route gets its good request with one thing at a time made bad: each body field
(and one level into mappings) from ``badinput.BAD_VALUES``, each path parameter, each
query parameter and each header. No answer may be a 5xx; every 4xx is problem+json
with a ``code``; afterwards every list answers 200 and holds nothing bad.
"""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import quote

import httpx
from fastapi.routing import APIRoute

from tests.http import badinput
from uno.deployment.entrypoints.http.routes import configs, deployments, leases, operations, pipelines

CONFIG = {
    "app_name": "hello",
    "app_version": "1.0.0",
    "environment": "dev",
    "description": "the fuzz run's configuration",
    "database": {"host": "db", "name": "hello"},
    "custom_settings": {"workdir": "v"},  # a key the local platform reads: an unknown one refuses the deploy
    "environment_variables": {"MODE": "fuzz"},
    "build_command": ["make"],
}
GOOD_BODIES: dict[str, dict[str, Any]] = {
    "ConfigCreate": CONFIG,
    "ConfigReplace": CONFIG,
    "ConfigPatch": {"app_version": "1.0.1", "description": "patched", "custom_settings": {"workdir": "w"}},
    "ConfigDerive": {"environment": "staging", "changes": {"description": "derived"}},
    "DeployRequest": {"config_id": "{config_id}", "description": "fuzz"},
    "RollbackRequest": {"deployment_id": "{deployment_id}", "to": "{deployment_id}"},
    "CancelRequest": {"reason": "fuzz"},
    "PromoteRequest": {"full": False},
    "AbortRequest": {"reason": "fuzz"},
    "PlanRequest": {"config": CONFIG},
    "PipelineCreate": {"name": "p", "description": "fuzz", "deployment_id": "{config_id}"},
    "StageCreate": {"name": "s", "description": "fuzz"},
    "TaskCreate": {"name": "t", "action": "wait", "params": {"seconds": 0}, "dependencies": []},
    "Decide": {"comment": "fuzz"},
    "ReleaseRequest": {"reason": "fuzz"},
}
LAST = ("/execute", "/cancel", "/abort", "/promote", "/rollback", "/release", "/approve", "/reject")


async def seed(http: httpx.AsyncClient) -> dict[str, str]:
    """One of each thing a path can name; a canceled pipeline for the event stream (it ends at once)."""
    config = (await http.post("/api/deployments/configs", json=CONFIG)).json()["id"]
    deployment = (await http.post("/api/deployments/deploy", json={"config_id": config})).json()["deployment_id"]
    pipeline = (await http.post("/api/pipelines", json={"name": "p", "deployment_id": config})).json()["id"]
    stage = (await http.post(f"/api/pipelines/{pipeline}/stages", json={"name": "s"})).json()["id"]
    gate = {"name": "gate", "action": "approval"}
    task = (await http.post(f"/api/pipelines/{pipeline}/stages/{stage}/tasks", json=gate)).json()["id"]
    ended = (await http.post("/api/pipelines", json={"name": "ended", "deployment_id": config})).json()["id"]
    await http.post(f"/api/pipelines/{ended}/cancel")
    return {
        "config_id": config,
        "deployment_id": deployment,
        "pipeline_id": pipeline,
        "stage_id": stage,
        "task_id": task,
        "app_name": "hello",
        "environment": "dev",
        "ended_pipeline_id": ended,
    }


def routes() -> list[APIRoute]:
    routers = (configs.router, deployments.router, pipelines.router, leases.router, operations.router)
    found = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    return sorted(found, key=lambda route: (route.path.endswith(LAST) or "DELETE" in route.methods, route.path))


def good_path(route: APIRoute, ids: dict[str, str], **bad: str) -> str:
    values = {**ids, "pipeline_id": ids["ended_pipeline_id"]} if route.path.endswith("/stream") else ids
    return route.path.format(**{**values, **bad})


def good_body(route: APIRoute, ids: dict[str, str]) -> dict[str, Any] | None:
    if route.body_field is None:
        return None
    annotation = route.body_field.field_info.annotation
    model = next((kind for kind in get_args(annotation) if kind is not type(None)), annotation)
    body = GOOD_BODIES[getattr(model, "__name__", "")]
    return {name: value.format(**ids) if isinstance(value, str) else value for name, value in body.items()}


def requests_for(route: APIRoute, ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, httpx arguments) for each bad variant of one route."""
    method = sorted(route.methods)[0]
    base = good_path(route, ids)
    body = good_body(route, ids)
    made: list[tuple[str, str, dict[str, Any]]] = []
    for param in route.dependant.path_params:
        made += [
            (method, good_path(route, ids, **{param.name: bad}), _json(body)) for bad in badinput.BAD_PATH_SEGMENTS
        ]
    for param in route.dependant.query_params:
        made += [
            (method, f"{base}?{param.alias}={quote(bad, errors='surrogatepass')}", _json(body))
            for bad in badinput.BAD_STRINGS
        ]
    for param in route.dependant.header_params:
        made += [(method, base, {**_json(body), "headers": {param.alias: bad}}) for bad in badinput.BAD_HEADERS]
    if body is not None:
        made += [(method, base, _json(changed)) for changed in badinput.mutations(body)]
        made += [(method, base, {"content": raw}) for raw in RAW_BODIES]
    return made


RAW_BODIES = [
    b'{"name": "\xff\xfe"}',
    b"\xef\xbb\xbf{}",
    b"[" * 100_000,
    badinput.nested_text(100_000).encode(),
    b'{"a": NaN, "b": Infinity}',
    b'{"a": ' + b"9" * 5000 + b"}",
    b'{"a": 1e999}',
    b"{",
    b"null",
    b'"\\ud800"',
]


def _json(body: dict[str, Any] | None) -> dict[str, Any]:
    if body is None:
        return {}
    return {"content": badinput.encoded(body), "headers": {"content-type": "application/json"}}


async def test_bad_input_on_every_route_answers_4xx_problems_and_stores_nothing_bad(
    authorized: httpx.AsyncClient,
) -> None:
    http = authorized
    ids = await seed(http)
    answers = badinput.Answers()
    for route in routes():
        for method, url, arguments in requests_for(route, ids):
            headers = {**http.headers, **arguments.pop("headers", {})}
            answers.check(f"{method} {url}", await http.request(method, url, headers=headers, **arguments))
    for name in ("Authorization",):
        for bad in badinput.BAD_HEADERS:
            answers.check(f"{name}: {bad!r}", await http.get("/api/deployments", headers={name: b"Bearer " + bad}))

    assert answers.count >= 2000
    assert answers.server_errors == []
    assert answers.bad_problems == []
    lists = ["/api/deployments/configs", "/api/deployments", "/api/pipelines", "/api/deployments/history/hello/dev"]
    badinput.assert_nothing_bad_stored({path: await http.get(f"{path}?limit=500") for path in lists})
    print(f"bad-input run: {answers.count} requests, 0 answers >= 500")  # the figure, with -s
