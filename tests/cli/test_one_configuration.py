"""What a file says is what is deployed (issue 16): ``deploy -f`` stores exactly the file,
``config validate -f``, ``plan -f`` and ``deploy -f`` agree on it, and a refused deploy stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import as_json, free_port, hello_command, ok, uno_deploy, version_at

pytestmark = pytest.mark.integration


def write(folder: Path, port: int, *, environment: str = "dev", command: bool = True, extra: str = "") -> Path:
    lines = [
        "app_name: hello",
        "app_version: 1.0.0",
        f"environment: {environment}",
        "platform: local",
        "strategy: recreate",
        "resources: {replicas_min: 1, replicas_max: 1, auto_scaling: false}",
        "security: {scan_images: false, run_as_non_root: false, read_only_root_filesystem: false}",
        "network: {health_check_path: /health}",
        "custom_settings:",
        f"  port: {port}",
        *([f"  command: {json.dumps(hello_command().split())}"] if command else []),
    ]
    path = folder / f"{environment}.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def stored(environment: str = "dev") -> dict[str, Any]:
    found = as_json("config", "list", "--app", "hello", "--env", environment)
    assert len(found) == 1, found
    return dict(found[0])


def test_a_second_deploy_of_the_file_stores_exactly_the_file_not_what_the_first_one_added(tmp_path: Path):
    port = free_port()
    write(tmp_path, port, extra="  health_deadline_seconds: 45\n")
    failing = uno_deploy(
        "deploy", "-f", "dev.yaml", "--set", "testing.run_unit_tests=true",
        "--set", "testing.unit_test_command=[/bin/false]", cwd=tmp_path,
    )  # fmt: skip
    assert failing.returncode == 1, failing.stdout + failing.stderr
    first = stored()
    assert first["custom_settings"]["health_deadline_seconds"] == 45
    assert first["testing"]["unit_test_command"] == ["/bin/false"]

    write(tmp_path, port)
    deployed = ok("deploy", "-f", "dev.yaml", cwd=tmp_path)

    assert "updated (version 2)" in deployed.stderr
    second = stored()
    assert second["id"] == first["id"]
    assert "health_deadline_seconds" not in second["custom_settings"]
    assert second["testing"]["unit_test_command"] is None

    assert version_at(port) == "1.0.0"
    unchanged = ok("deploy", "-f", "dev.yaml", cwd=tmp_path)
    assert "unchanged (version 2)" in unchanged.stderr


def test_validate_plan_and_deploy_of_one_file_agree(tmp_path: Path):
    port = free_port()
    write(tmp_path, port)
    ok("deploy", "-f", "dev.yaml", cwd=tmp_path)
    before = stored()
    write(tmp_path, port, command=False)  # the stored configuration has a command; the file has none

    validated = uno_deploy("config", "validate", "-f", "dev.yaml", cwd=tmp_path)
    planned = uno_deploy("plan", "-f", "dev.yaml", cwd=tmp_path)
    deployed = uno_deploy("deploy", "-f", "dev.yaml", cwd=tmp_path)

    assert [validated.returncode, planned.returncode, deployed.returncode] == [2, 2, 2], deployed.stderr
    assert "custom_settings.command" in validated.stdout
    assert "custom_settings.command" in planned.stderr
    assert "custom_settings.command" in deployed.stderr
    assert stored() == before
    assert version_at(port) == "1.0.0"


def test_a_strict_refusal_stores_nothing(tmp_path: Path):
    port = free_port()
    write(tmp_path, port, environment="production")
    ok("config", "create", "-f", "production.yaml", cwd=tmp_path)
    before = stored("production")
    write(tmp_path, port, environment="production", extra="monitoring: {enable_tracing: true}\n")

    refused = uno_deploy("deploy", "-f", "production.yaml", cwd=tmp_path)

    assert refused.returncode == 2
    assert "strict mode" in refused.stderr
    assert "production.yaml:12: monitoring.enable_tracing: not honoured on local" in refused.stderr
    assert stored("production") == before
    assert "no deployments yet" in uno_deploy("history", "hello", "--env", "production").stderr


def test_an_application_has_one_configuration_per_environment(tmp_path: Path):
    port = free_port()
    write(tmp_path, port)
    created = ok("config", "create", "-f", "dev.yaml", cwd=tmp_path)
    assert created.stdout.startswith("created cfg-")
    config_id = created.stdout.split()[1].rstrip(":")

    again = ok("config", "create", "-f", "dev.yaml", cwd=tmp_path)
    assert again.stdout.startswith(f"unchanged (it was there already): {config_id}:")

    other = uno_deploy("config", "create", "-f", "dev.yaml", "--set", "app_version=2.0.0", cwd=tmp_path)
    assert other.returncode == 2
    [line] = other.stderr.splitlines()
    assert line.startswith(f"error: hello in dev already has configuration {config_id}, with other values")
    assert "deploy -f FILE" in line

    ok("deploy", "-f", "dev.yaml", "--set", "app_version=2.0.0", cwd=tmp_path)
    assert stored()["id"] == config_id
    assert stored()["app_version"] == "2.0.0"
    assert version_at(port) == "2.0.0"
