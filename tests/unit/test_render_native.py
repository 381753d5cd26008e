"""``render`` in each platform's own format: golden files, fed to the platform's own validator.

The golden files under ``tests/golden/render/<platform>/`` are exactly what ``uno-deploy
render`` prints (``rendering.yaml_stream``), per environment profile and strategy. The
Kubernetes ones are checked as they are, comments and all, by ``kubernetes-validate
--strict`` (the program, on the files) for the oldest and newest schemas it carries. After a
deliberate change, regenerate them with
``UNO_DEPLOY_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render_native.py`` and review the diff.
(``kubectl`` is not installed here: ``kubectl apply --dry-run=client`` is not run.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from uno.deployment.adapters.platforms.kubernetes import driver
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.entrypoints.cli import rendering
from uno.deployment.ports.platforms import Release

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "render"
UPDATE = os.environ.get("UNO_DEPLOY_UPDATE_GOLDEN") == "1"
ENVIRONMENTS = ("dev", "staging", "production")
STRATEGIES = ("recreate", "rolling", "blue-green", "canary")
VERSIONS = ("1.25", "1.37")
RECORD = rendering.RECORD
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"


def config(platform: str, environment: str, strategy: str, **given: Any):
    values: dict[str, Any] = {
        "app_name": "shop",
        "app_version": "1.4.2",
        "environment": environment,
        "platform": platform,
        "strategy": strategy,
        "environment_variables": {"FEATURE_CHECKOUT": "on"},
        "secrets": ["DB_PASSWORD"],
    }
    if platform == "kubernetes":
        values["custom_settings"] = {"image": "ghcr.io/acme/shop:1.4.2"}
    else:
        values["custom_settings"] = {"command": ["python3", "app.py"], "port": 8123}
    if environment == "production":
        values["network"] = {"domain": "shop.example.com", "use_https": platform == "kubernetes"}
    values.update(given)
    built = configuring.build(DeploymentId("cfg-golden"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


def matches_golden(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
async def test_kubernetes_renders_a_yaml_stream_of_its_manifests(environment: str, strategy: str):
    made = config("kubernetes", environment, strategy)
    rendered = await driver.KubernetesDriver({}).render(Release("(planned)", made))
    assert rendered.is_success(), rendered
    text = rendering.yaml_stream(rendered.value)

    matches_golden(GOLDEN / "kubernetes" / f"{environment}-{strategy}.yaml", text)
    assert list(yaml.safe_load_all(text)) == [item["body"] for item in rendered.value["objects"]]
    assert text.startswith("# uno-deploy render: kubernetes (namespace default, kubernetes_version 1.37)\n")


def test_the_kubernetes_golden_files_pass_kubernetes_validate_strict_as_they_are():
    files = sorted(str(path) for path in (GOLDEN / "kubernetes").glob("*.yaml"))
    assert len(files) == len(ENVIRONMENTS) * len(STRATEGIES)
    for version in VERSIONS:
        checked = subprocess.run(
            [str(VALIDATE), "--strict", "--quiet", "-k", version, *files],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kubernetes_validate_strict_refuses_a_field_kubernetes_does_not_have(tmp_path: Path):
    """The check above can fail: the same stream with one unknown field is refused."""
    text = (GOLDEN / "kubernetes" / "dev-rolling.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("  replicas: ", "  replicaz: ", 1))
    checked = subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", str(broken)], capture_output=True, text=True, timeout=300, check=False
    )
    assert checked.returncode != 0
    assert "replicaz" in checked.stdout + checked.stderr


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
async def test_local_renders_its_router_and_processes(tmp_path: Path, environment: str, strategy: str):
    rendered = await LocalDriver(tmp_path, {}).render(Release("(planned)", config("local", environment, strategy)))
    assert rendered.is_success(), rendered
    text = rendering.yaml_stream(rendered.value)

    matches_golden(GOLDEN / "local" / f"{environment}-{strategy}.yaml", text)
    router, processes = yaml.safe_load_all(text)
    assert router["listen"] == "127.0.0.1:8123"
    assert processes["command"] == ["python3", "app.py"]
    assert processes["secrets"] == ["DB_PASSWORD"]  # the name only: values are never rendered


def test_json_bodies_go_to_stdout_and_what_names_them_to_stderr():
    """A driver whose objects are a command line's input (``cli``): JSON documents, no AWS code here."""
    document = {
        "platform": "aws",
        "region": "eu-west-1",
        "notes": ["a note"],
        "objects": [
            {
                "kind": "TaskDefinition",
                "name": "shop",
                "call": "ecs:RegisterTaskDefinition",
                "cli": "aws ecs register-task-definition --cli-input-json",
                "body": {"family": "shop", "containerDefinitions": []},
            },
            {"kind": "Listener", "name": "shop", "cli": "aws elbv2 modify-listener --cli-input-json", "body": {}},
        ],
    }
    assert rendering.native_format(document) == "json"
    stream, said = rendering.json_stream(document)

    decoder, position, bodies = json.JSONDecoder(), 0, []
    while stream[position:].strip():
        body, position = decoder.raw_decode(stream, position)
        bodies.append(body)
        position += len(stream[position:]) - len(stream[position:].lstrip())
    assert bodies == [item["body"] for item in document["objects"]]
    assert said == [
        "uno-deploy render: aws (region eu-west-1)",
        "note: a note",
        "TaskDefinition/shop call: ecs:RegisterTaskDefinition cli: aws ecs register-task-definition --cli-input-json",
        "Listener/shop cli: aws elbv2 modify-listener --cli-input-json",
    ]


def test_out_writes_one_file_per_object_overwrites_its_own_and_removes_its_stale_ones(tmp_path: Path):
    def document(*names: str) -> dict[str, Any]:
        objects = [{"kind": "Deployment", "name": name, "body": {"kind": "Deployment", "n": name}} for name in names]
        return {"platform": "kubernetes", "format": "yaml", "objects": objects}

    out = tmp_path / "repo"
    out.mkdir()
    (out / "README.md").write_text("mine")
    written = rendering.write_out(document("shop-blue", "shop-green"), out, force=False)
    assert [path.name for path in written] == ["deployment-shop-blue.yaml", "deployment-shop-green.yaml"]
    assert yaml.safe_load((out / "deployment-shop-blue.yaml").read_text()) == {"kind": "Deployment", "n": "shop-blue"}

    again = rendering.write_out(document("shop-blue"), out, force=False)
    assert [path.name for path in again] == ["deployment-shop-blue.yaml"]
    assert sorted(path.name for path in out.iterdir()) == [RECORD, "README.md", "deployment-shop-blue.yaml"]

    (out / "deployment-shop-red.yaml").write_text("somebody else's")
    refused = rendering.write_out(document("shop-red"), out, force=False)
    assert not isinstance(refused, list)
    assert refused.message == (
        f"--out: {out} has files uno-deploy did not write: deployment-shop-red.yaml (--force overwrites them)"
    )
    assert (out / "deployment-shop-red.yaml").read_text() == "somebody else's"
    forced = rendering.write_out(document("shop-red"), out, force=True)
    assert isinstance(forced, list)
    assert sorted(path.name for path in out.iterdir()) == [RECORD, "README.md", "deployment-shop-red.yaml"]
