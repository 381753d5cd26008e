"""security.scan_images: a real scanner runs before the deploy step, and a finding stops the deploy there."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support import PlatformStep
from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.kubernetes import honoured as kubernetes_honoured
from uno.deployment.adapters.platforms.local import honoured as local_honoured
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.domain.ids import new_config_id
from uno.deployment.engine.actions import ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.settings import Settings

LOCAL = {"command": ["python", "-m", "http.server"], "port": 18080}
SCANNER = """
import os, sys
print("scanning", os.environ.get("REGISTRY_TOKEN", "no token"))
if sys.argv[1] == "fail":
    print("CVE-2026-0001 HIGH in requests 2.0.0", file=sys.stderr)
    sys.exit(1)
print("no known vulnerabilities")
"""


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def container(environ, calls) -> bootstrap.Container:
    """The real drivers' declarations and the real command runner; the platform steps are doubles."""
    registry = ActionRegistry(builtin_actions())
    for kind in ("deploy", "verify", "health_check", "rollback"):
        registry.register(PlatformStep(kind, calls, set()))
    environ["REGISTRY_TOKEN"] = "tok-0123456789"
    return bootstrap.build(Settings(database_url="memory://"), environ=environ, actions=registry)


@pytest.fixture
def scanner(tmp_path: Path) -> Path:
    path = tmp_path / "scanner.py"
    path.write_text(SCANNER, encoding="utf-8")
    return path


async def deploy(container: bootstrap.Container, scan_command: list[str] | None, **options):
    security = {"scan_images": True, **({"scan_command": scan_command} if scan_command else {})}
    created = await container.config_service.create_config(
        app_name="shop",
        app_version="1.0.0",
        environment="dev",
        platform="local",
        custom_settings=LOCAL,
        testing_config={"run_unit_tests": False},
        security_config=security,
        secrets=["REGISTRY_TOKEN"],
        **options,
    )
    record = (await container.deployment_service.deploy(created.value.id)).value
    pipeline = (await container.pipeline_service.get_pipeline(record.pipeline_id)).value
    return record, pipeline


async def test_a_scanner_that_finds_something_stops_the_deploy_before_the_platform(container, calls, scanner):
    record, pipeline = await deploy(container, [sys.executable, str(scanner), "fail"])

    assert record.status is DeploymentStatus.FAILED
    assert "CVE-2026-0001 HIGH in requests 2.0.0" in record.message
    assert "nothing was deployed" in record.message
    assert calls == []  # the deploy step never ran
    scan = pipeline.task_named("scan-images")
    assert scan.outputs["returncode"] == 1
    assert "scanning ***" in scan.outputs["stdout_tail"]  # the secret it was given is hidden in the record
    assert "tok-0123456789" not in str(scan.outputs) + record.message


async def test_a_clean_scan_lets_the_deploy_go_on(container, calls, scanner):
    record, pipeline = await deploy(container, [sys.executable, str(scanner), "pass"])

    assert record.status is DeploymentStatus.SUCCEEDED, record.message
    assert calls[0] == ("deploy", "1.0.0")
    scan, deployed = pipeline.task_named("scan-images"), pipeline.task_named("deploy")
    assert "no known vulnerabilities" in scan.outputs["stdout_tail"]
    assert scan.finished_at is not None
    assert deployed.started_at is not None
    assert scan.finished_at <= deployed.started_at


async def test_a_scanner_that_is_not_installed_is_one_clear_line(container, calls):
    record, _ = await deploy(container, ["uno-no-such-scanner", "--all"])

    assert record.status is DeploymentStatus.FAILED
    assert (
        "the scanner 'uno-no-such-scanner' is not installed (install it, or change security.scan_command)"
        in record.message
    )
    assert calls == []


async def test_local_scans_with_pip_audit_by_default_and_says_how_to_get_it(container, environ, calls):
    environ["PATH"] = "/nonexistent"  # no pip-audit here, whatever this machine has

    record, _ = await deploy(container, None)

    assert record.status is DeploymentStatus.FAILED
    assert (
        "the scanner 'pip-audit' is not installed (pip install pip-audit, or set security.scan_command "
        "to another scanner)" in record.message
    )
    assert calls == []


async def test_the_plan_lists_the_scan_with_its_command(container):
    created = await container.config_service.create_config(
        app_name="shop",
        app_version="1.0.0",
        environment="staging",
        platform="local",
        custom_settings={**LOCAL, "workdir": "/srv/shop"},
    )

    planned = (await container.deployment_service.plan(created.value.id)).value

    names = [stage.name for stage in planned.stages]
    assert names.index("security") < names.index("deployment")
    [task] = planned.stages[names.index("security")].tasks
    assert task.name == "scan-images"
    assert task.description == (
        "Scan for known vulnerabilities: pip-audit --requirement requirements.txt --strict --progress-spinner off"
    )
    assert "security.scan_images" not in [item["field"] for item in planned.not_honoured]


def test_each_platform_has_its_default_scanner():
    config = _config({**LOCAL, "workdir": "/srv/shop"})
    local = local_honoured.scanner(config)
    image = "ghcr.io/acme/shop:1.0.0"
    kubernetes = kubernetes_honoured.scanner(_config({"image": image}, platform="kubernetes"))

    assert (local.argv[0], local.cwd) == ("pip-audit", "/srv/shop")
    assert kubernetes is not None
    assert kubernetes.argv == ("trivy", "image", "--exit-code", "1", "--severity", "HIGH,CRITICAL", image)
    assert kubernetes_honoured.scanner(_config({}, platform="kubernetes")) is None  # no image: nothing to scan


def test_a_deploy_token_may_run_the_scan_an_admin_configured():
    assert ActionRegistry(builtin_actions()).free_form("scan_images") is False


def _config(custom: dict[str, Any], platform: str = "local") -> DeploymentConfig:
    given = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", "strategy": "rolling"}
    built = configuring.build(
        new_config_id(), {**given, "platform": platform, "custom_settings": custom}, datetime.now(UTC)
    )
    return built.value
