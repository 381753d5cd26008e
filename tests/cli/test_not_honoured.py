"""Settings the local platform does not honour, as a user meets them: validate, plan, deploy, status."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.support import free_port, hello_command, ok, uno_deploy, version_at

DEPLOYMENT_ID = re.compile(r"dep-[0-9a-z]{26}")


def write(folder: Path, environment: str, port: int, extra: str = "") -> Path:
    command = json.dumps(hello_command().split())
    text = f"""\
app_name: hello
app_version: 1.0.0
environment: {environment}
platform: local
strategy: recreate
resource_requirements:
  replicas_min: 1
  replicas_max: 1
  auto_scaling: false
monitoring_config:
  enable_tracing: true
security_config:
  scan_images: false
  run_as_non_root: false  # production turns it on: this Python and the test's directory are root's only
  read_only_root_filesystem: false
testing_config:
  run_unit_tests: false
network_config:
  health_check_path: /health
custom_settings:
  command: {command}
  port: {port}
  health_deadline_seconds: 30
{extra}"""
    path = folder / f"{environment}.yaml"
    path.write_text(text)
    return path


def test_validate_warns_plan_lists_deploy_records_and_status_shows(tmp_path: Path):
    port = free_port()
    write(tmp_path, "dev", port)

    validated = ok("config", "validate", "-f", "dev.yaml", cwd=tmp_path)
    assert validated.stdout == "dev.yaml: valid (hello 1.0.0 in dev)\n"
    warning = "warning: dev.yaml:11: monitoring_config.enable_tracing: not honoured on local: tracing arrives"
    assert warning in validated.stderr
    strictly = uno_deploy("config", "validate", "-f", "dev.yaml", "--strict", cwd=tmp_path)
    assert strictly.returncode == 2
    assert "monitoring_config.enable_tracing: not honoured on local" in strictly.stdout

    planned = ok("plan", "-f", "dev.yaml", cwd=tmp_path).stdout
    assert "not honoured on local (reported; a strict deploy refuses them):" in planned
    tracing = "monitoring.enable_tracing: tracing arrives with the observability work: nothing exports spans yet"
    assert f"  {tracing}" in planned

    deployed = ok("deploy", "-f", "dev.yaml", cwd=tmp_path)
    assert "warning: not honoured on local (1), deployed without them:" in deployed.stderr
    assert f"    {tracing}" in deployed.stderr
    assert version_at(port) == "1.0.0"
    found = DEPLOYMENT_ID.match(deployed.stdout)
    assert found is not None
    status = ok("status", found.group()).stdout
    assert "  not honoured on local (1):\n    monitoring.enable_tracing: tracing arrives" in status


def test_production_is_refused_before_anything_is_stored_unless_no_strict(tmp_path: Path):
    port = free_port()
    write(tmp_path, "production", port)

    planned = uno_deploy("plan", "-f", "production.yaml", cwd=tmp_path)
    assert planned.returncode == 2
    assert "not honoured on local (a deploy in production is refused for them unless --no-strict):" in planned.stdout
    assert "error: a deploy in production would be refused (strict mode): not honoured: " in planned.stderr

    refused = uno_deploy("deploy", "-f", "production.yaml", cwd=tmp_path)
    assert refused.returncode == 2
    assert re.search(
        r"error: strict mode: the \d+ setting\(s\) above would not be honoured; nothing was deployed", refused.stderr
    )
    assert "production.yaml:11: monitoring_config.enable_tracing: not honoured on local: tracing" in refused.stderr
    assert "testing_config.run_integration_tests: enabled but" in refused.stderr  # the profile enables it, no command
    assert "no deployments yet" in uno_deploy("history", "hello", "--env", "production").stderr

    deployed = ok("deploy", "-f", "production.yaml", "--no-strict", cwd=tmp_path)
    assert "monitoring.enable_tracing" in deployed.stderr
    assert version_at(port) == "1.0.0"


def test_an_unknown_custom_setting_gets_the_one_meant(tmp_path: Path):
    write(tmp_path, "dev", free_port(), "  helth_path: /ready\n")

    checked = uno_deploy("config", "validate", "-f", "dev.yaml", cwd=tmp_path)

    assert checked.returncode == 2
    assert "custom_settings.helth_path: is not a setting of the local platform (did you mean health_path?)" in (
        checked.stdout
    )


def test_the_deprecated_health_path_works_and_is_reported_never_refused(tmp_path: Path):
    port = free_port()
    write(tmp_path, "dev", port, "  health_path: /health\n")
    said = "custom_settings.health_path: deprecated: set network.health_check_path instead"

    validated = ok("config", "validate", "-f", "dev.yaml", cwd=tmp_path)
    strictly = uno_deploy("config", "validate", "-f", "dev.yaml", "--strict", cwd=tmp_path)  # for scan_images
    planned = ok("plan", "-f", "dev.yaml", cwd=tmp_path).stdout
    deployed = ok("deploy", "-f", "dev.yaml", cwd=tmp_path)

    assert said in validated.stderr
    assert said in strictly.stderr
    assert "health_path" not in strictly.stdout  # the problems: scan_images only
    assert "deprecated (still used; never refused):\n  " + said in planned
    assert said in deployed.stderr
    assert version_at(port) == "1.0.0"
