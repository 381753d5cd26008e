"""Bad input is exit code 2 and a line that names the file's line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.support import HELLO, ok, uno_deploy

pytestmark = pytest.mark.integration

MALFORMED = """\
app_name: hello
app_version: 1.0.0
environment: dev
resources:
  replicas_min: [2
custom_settings:
  port: 8000
"""

WRONG = """\
app_name: Hello_World
app_version: "1.0 0"
environment: moon
colour: blue
resources:
  replicas_min: 0
  cpus: 2
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return name


@pytest.mark.parametrize("command", [["config", "validate"], ["config", "create"], ["deploy"], ["plan"]])
def test_malformed_yaml_is_refused_naming_the_line_and_column(tmp_path: Path, command: list[str]):
    name = write(tmp_path, "bad.yaml", MALFORMED)

    refused = uno_deploy(*command, "-f", name, cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line == (
        "error: bad.yaml:6:16: not valid YAML or JSON: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 5)"
    )


def test_validate_reports_every_problem_with_its_line_and_field(tmp_path: Path):
    name = write(tmp_path, "wrong.yaml", WRONG)

    refused = uno_deploy("config", "validate", "-f", name, cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stdout.splitlines() == [
        "wrong.yaml:4: colour: is not a setting (settable: app_name, app_version, auto_rollback, build_command, "
        "custom_settings, database, description, environment, environment_variables, monitoring, network, "
        "platform, resources, secrets, security, strategy, testing)",
        "wrong.yaml:3: environment: 'moon' is not one of dev, test, staging, production",
        "wrong.yaml:1: app_name: 'Hello_World' is not a valid name: use 1-63 lowercase letters, digits or '-', "
        "starting and ending with a letter or digit",
        "wrong.yaml:2: app_version: '1.0 0' is neither a semantic version (1.2.3) nor an image tag",
        "wrong.yaml:6: resources.replicas_min: Input should be greater than or equal to 1",
        "wrong.yaml:7: resources.cpus: is not a known field",
    ]
    assert refused.stderr == "error: 6 problem(s) in wrong.yaml\n"

    as_json = json.loads(uno_deploy("config", "validate", "-f", name, "--json", cwd=tmp_path).stdout)
    assert as_json[-1] == {"field": "resources.cpus", "message": "is not a known field", "at": "wrong.yaml:7"}


def test_deploy_refuses_an_invalid_file_in_one_line_before_storing_or_deploying_anything(tmp_path: Path):
    name = write(tmp_path, "wrong.yaml", WRONG)

    refused = uno_deploy("deploy", "-f", name, cwd=tmp_path)

    assert refused.returncode == 2
    [line] = refused.stderr.splitlines()
    assert line.startswith("error: wrong.yaml:4: colour: is not a setting")
    assert line.endswith("(and 5 more: `uno-deploy config validate -f wrong.yaml` lists them)")
    assert "no configurations yet" in uno_deploy("config", "list").stderr


def test_a_typo_gets_a_suggestion_and_settings_a_deploy_would_refuse_are_problems_too(tmp_path: Path):
    name = write(
        tmp_path,
        "typo.yaml",
        "app_name: shop\napp_version: 1.0.0\nenvironment: dev\nstrategy: canary\nresourcs: {}\n"
        "custom_settings:\n  command: [python3, app.py]\n  port: 8000\n  canary: {steps: [50, 10]}\n",
    )

    refused = uno_deploy("config", "validate", "-f", name, cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stdout.splitlines() == [
        "typo.yaml:5: resourcs: is not a setting (did you mean resources?)",
        "typo.yaml:9: custom_settings.canary.steps: must be rising percentages ending at 100",
    ]


def test_plan_exits_2_when_a_deploy_would_fail_and_says_why(tmp_path: Path):
    name = write(tmp_path, "shop.yaml", "app_name: shop\napp_version: 1.0.0\nenvironment: dev\nplatform: local\n")

    refused = uno_deploy("plan", "-f", name, cwd=tmp_path)

    assert refused.returncode == 2
    assert "problems (a deploy would fail):\n  custom_settings.command: the local platform needs 'command'" in (
        refused.stdout
    )
    assert refused.stderr.startswith("error: a deploy would fail: custom_settings.command: ")


def test_a_key_given_twice_and_a_bad_set_are_refused(tmp_path: Path):
    name = write(tmp_path, "twice.yaml", "app_name: shop\napp_version: 1.0.0\napp_name: other\nenvironment: dev\n")

    twice = uno_deploy("config", "validate", "-f", name, cwd=tmp_path)
    bad_set = uno_deploy("config", "validate", "-f", str(HELLO / "deployment.json"), "--set", "nothing")

    assert twice.returncode == 2
    assert twice.stderr == "error: twice.yaml:3: app_name: is given twice (first at twice.yaml:1)\n"
    assert bad_set.returncode == 2
    assert bad_set.stderr.startswith("error: --set 'nothing': use key.path=value")


def test_json_files_are_read_too_with_their_lines_and_the_python_api_names(tmp_path: Path):
    document = json.loads((HELLO / "deployment.json").read_text())
    document["resource_requirements"]["replicas_min"] = 5
    name = write(tmp_path, "hello.json", json.dumps(document, indent=2))

    valid = ok("config", "validate", "-f", str(HELLO / "deployment.json"))
    refused = uno_deploy("config", "validate", "-f", name, cwd=tmp_path)

    assert valid.stdout.endswith("deployment.json: valid (hello 1.0.0 in dev)\n")
    assert refused.returncode == 2
    assert refused.stdout == (
        "hello.json:8: resource_requirements.replicas_min: replicas_min (5) is greater than replicas_max (2)\n"
    )


def test_an_unknown_deployment_and_a_missing_file_are_one_line_and_exit_2(tmp_path: Path):
    missing = uno_deploy("status", "dep-missing")
    no_file = uno_deploy("deploy", "-f", "nowhere.yaml", cwd=tmp_path)
    nothing = uno_deploy("deploy")

    assert (missing.returncode, missing.stderr) == (2, "error: deployment 'dep-missing' not found\n")
    assert (no_file.returncode, no_file.stderr) == (2, "error: cannot read nowhere.yaml: No such file or directory\n")
    assert (nothing.returncode, nothing.stderr) == (
        2,
        "error: CONFIG_ID: give a configuration id (cfg-...) or -f FILE\n",
    )


def test_debug_shows_the_context_of_an_error(tmp_path: Path):
    name = write(tmp_path, "bad.yaml", MALFORMED)

    refused = uno_deploy("--debug", "config", "validate", "-f", name, cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stderr.splitlines()[1] == 'context: {"field": "", "file": "bad.yaml", "line": 6}'


def test_config_commands_create_list_show_update_render_and_delete(tmp_path: Path):
    ok("init", "shop", "--platform", "kubernetes", "--port", "8100", cwd=tmp_path)
    created = ok("config", "create", "-f", "deployment.yaml", "--set", "app_version=1.2.0", cwd=tmp_path)
    config_id = created.stdout.split()[1].rstrip(":")
    assert created.stdout == f"created {config_id}: shop 1.2.0 in dev (kubernetes, blue-green, 2 replica(s))\n"

    listed = ok("config", "list", "--app", "shop").stdout.splitlines()
    assert listed[1].split()[:6] == [config_id, "shop", "1.2.0", "dev", "kubernetes", "blue-green"]
    shown = ok("config", "show", config_id).stdout
    assert shown.startswith(f"# {config_id}, version 1, updated ")
    assert "\napp_version: 1.2.0\n" in shown

    updated = ok("config", "update", config_id, "--set", "resources.replicas_max=4", "--expected-version", "1")
    assert updated.stdout.startswith(f"updated {config_id} to version 2: ")
    stale = uno_deploy("config", "update", config_id, "--set", "app_version=2.0.0", "--expected-version", "1")
    assert (stale.returncode, stale.stderr) == (2, f"error: configuration {config_id} is at version 2, not 1\n")

    no_image = uno_deploy("render", config_id)
    assert no_image.returncode == 2
    assert no_image.stderr.startswith("error: custom_settings.image: the kubernetes platform needs 'image'")
    manifests = ok("render", config_id, "--set", "custom_settings.image=registry.example.com/shop:1.2.0").stdout
    assert "kind: Deployment" in manifests
    assert "image: registry.example.com/shop:1.2.0" in manifests
    rendered = ok("render", config_id, "--set", "platform=local", "--set", "custom_settings.command=[python3, app.py]")
    assert "# Router/shop-dev\nlisten: 127.0.0.1:8100\n" in rendered.stdout
    assert ok("config", "show", config_id, "--json").stdout.count('"platform": "kubernetes"') == 1  # nothing stored

    assert ok("config", "delete", config_id).stdout == f"deleted {config_id}\n"
    gone = uno_deploy("config", "show", config_id)
    assert (gone.returncode, gone.stderr) == (2, f"error: configuration '{config_id}' not found\n")
