"""Bearer tokens with scopes: read < deploy < admin; secrets never echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.http.polling import settled
from uno.deployment.entrypoints.http import create_app

CONFIG = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "send a bearer token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be: Bearer <token>"),
        ({"Authorization": "Bearer "}, "must be: Bearer <token>"),
        (bearer("made-up"), "unknown or revoked token"),
    ],
)
async def test_no_valid_token_is_401_with_a_challenge(guarded: httpx.AsyncClient, headers, detail):
    response = await guarded.get("/api/deployments/configs", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert "made-up" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"),
    [
        ("GET", "/api/deployments/configs", None, "read"),
        ("GET", "/api/deployments", None, "read"),
        ("GET", "/api/deployments/status/dep-x", None, "read"),
        ("GET", "/api/pipelines", None, "read"),
        ("POST", "/api/deployments/deploy", {"config_id": "cfg-x"}, "deploy"),
        ("POST", "/api/deployments/rollback", {"deployment_id": "dep-x"}, "deploy"),
        ("POST", "/api/deployments/dep-x/cancel", None, "deploy"),
        ("POST", "/api/pipelines/pipe-x/tasks/task-x/approve", None, "deploy"),
        ("POST", "/api/pipelines", {"name": "p", "deployment_id": "cfg-x"}, "deploy"),
        ("POST", "/api/deployments/configs", CONFIG, "admin"),
        ("PATCH", "/api/deployments/configs/cfg-x", {"app_version": "2.0.0"}, "admin"),
        ("DELETE", "/api/deployments/configs/cfg-x", None, "admin"),
    ],
)
async def test_each_route_needs_its_scope(guarded: httpx.AsyncClient, method, path, body, needed):
    order = ["read", "deploy", "admin"]
    for scope in order:
        secret = {"read": "reader-secret", "deploy": "deployer-secret", "admin": "admin-secret"}[scope]
        response = await guarded.request(method, path, json=body, headers=bearer(secret))
        if order.index(scope) < order.index(needed):
            assert response.status_code == 403, (scope, response.text)
            assert response.json()["needed"] == needed
        else:
            assert response.status_code not in (401, 403), (scope, response.text)


async def test_probes_metrics_and_the_schema_need_no_token(guarded: httpx.AsyncClient):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await guarded.get(path)).status_code == 200, path


async def test_records_name_the_token_never_its_secret(guarded: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]):
    config = (await guarded.post("/api/deployments/configs", json=CONFIG, headers=bearer("admin-secret"))).json()
    deployed = await guarded.post(
        "/api/deployments/deploy", json={"config_id": config["id"]}, headers=bearer("deployer-secret")
    )
    await settled(guarded, deployed.json()["deployment_id"], **bearer("reader-secret"))
    record = await guarded.get(f"/api/deployments/{deployed.json()['deployment_id']}", headers=bearer("reader-secret"))

    assert record.status_code == 200
    out, err = capfd.readouterr()
    for secret in ("admin-secret", "deployer-secret", "reader-secret"):
        assert secret not in record.text
        assert secret not in out + err


@pytest.fixture
async def real(api_container) -> AsyncIterator[httpx.AsyncClient]:
    """The API checking tokens against the store, as ``uno-deploy serve`` does."""
    app = create_app(api_container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_tokens_from_the_store_work_by_scope_and_revoked_ones_do_not(real: httpx.AsyncClient, api_container):
    access = api_container.access_service
    _, reader = (await access.create_token("dashboard", ["read"])).value
    revoked_token, revoked = (await access.create_token("old-ci", ["admin"])).value
    await access.revoke_token(revoked_token.id)

    assert (await real.get("/api/deployments", headers=bearer(reader))).status_code == 200
    refused = await real.post("/api/deployments/configs", json=CONFIG, headers=bearer(reader))
    assert refused.status_code == 403
    assert reader not in refused.text
    gone = await real.get("/api/deployments", headers=bearer(revoked))
    assert gone.status_code == 401
    assert revoked not in gone.text
