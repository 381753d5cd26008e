"""The spec's Python examples, run as written (docs/spec/deployment-api.md).

Each ```python block runs in order in one namespace, as in a notebook, with nothing
before it but ``import inject`` (importing ``uno.deployment`` leaves ``inject`` ready
with the embedded defaults). The placeholder ids ``config-123`` and
``deployment-123`` are replaced by the ids the earlier examples created, except in the
error-handling example, which keeps ``config-123`` to show the error a user gets.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import uno.deployment

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "deployment-api.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", SPEC.read_text(encoding="utf-8"), flags=re.DOTALL)


async def run_block(source: str, namespace: dict[str, Any]) -> None:
    body = textwrap.indent(source + "\n__namespace.update(locals())\n", "    ")
    exec(compile(f"async def __example():\n{body}", str(SPEC), "exec"), namespace)
    await namespace["__example"]()


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    import inject

    namespace: dict[str, Any] = {"inject": inject}
    namespace["__namespace"] = namespace
    return namespace


def test_the_spec_has_the_five_examples():
    assert len(python_blocks()) == 5


async def test_the_spec_examples_run_as_written(namespace: dict[str, Any], capsys: pytest.CaptureFixture[str]):
    create, deploy, pipeline, rollback, errors = python_blocks()

    await run_block(create, namespace)
    config_id = namespace["config"].id.value
    assert capsys.readouterr().out == f"Created deployment config with ID: {config_id}\n"

    await run_block(deploy.replace("config-123", config_id), namespace)
    deployment = namespace["result"]
    assert capsys.readouterr().out == (f"Deployment failed: {deployment.message}\n")
    assert deployment.message.startswith("my-app 1.0.0 in dev not deployed: stage 'preparation' failed")
    assert "environment variable DB_PASSWORD is not set" in deployment.message
    # the example asks kubernetes for what it cannot do: suites without commands, a scan with no image to scan
    ignored = [item["field"] for item in deployment.details["not_honoured"]]
    assert ignored == ["testing.run_unit_tests", "testing.run_integration_tests", "security.scan_images"]
    assert deployment.id.value != config_id

    await run_block(pipeline.replace("config-123", config_id), namespace)
    assert capsys.readouterr().out == "Pipeline status: succeeded\n"
    executed = namespace["executed_pipeline"]
    assert [(task.name, task.status.value) for _, task in executed.tasks()] == [("validate-config", "succeeded")]

    await run_block(rollback.replace("deployment-123", deployment.id.value), namespace)
    assert capsys.readouterr().out == (
        f"Error rolling back deployment: deployment {deployment.id.value} never changed the platform: "
        "there is nothing to roll back\n"
    )

    await run_block(errors, namespace)
    assert capsys.readouterr().out == (
        "Error code: NOT_FOUND\n"
        "Error message: configuration 'config-123' not found\n"
        "Error context: {'kind': 'configuration', 'id': 'config-123'}\n"
    )


async def test_services_share_one_store_across_resolutions():
    import inject

    uno.deployment.configure()
    created = await inject.instance(uno.deployment.DeploymentConfigService).create_config(
        app_name="shop", app_version="1.0.0", environment="dev"
    )
    uno.deployment.configure()  # a second call keeps the same container

    found = await inject.instance(uno.deployment.DeploymentConfigService).get_config(created.value.id)

    assert found.value == created.value
    assert inject.instance(uno.deployment.PipelineService) is inject.instance(uno.deployment.PipelineService)


async def test_configure_with_new_settings_starts_afresh():
    import inject

    first = uno.deployment.configure()
    second = uno.deployment.configure(uno.deployment.Settings(max_parallel_tasks=2))

    assert first is not second
    assert inject.instance(uno.deployment.Settings).max_parallel_tasks == 2


def test_the_first_example_runs_in_a_fresh_interpreter_with_only_import_inject_added(tmp_path: Path):
    """As a user pastes it into ``python -m asyncio``: no configure() anywhere, no store opened at import."""
    import ast
    import os
    import subprocess
    import sys

    script = tmp_path / "example.py"
    script.write_text(
        "import ast, asyncio, sys\n"
        "import uno.deployment\n"
        "from pathlib import Path\n"
        "print('store after import:', Path(sys.argv[2]).exists())\n"
        "source = 'import inject\\n' + open(sys.argv[1]).read()\n"
        f"code = compile(source, 'example', 'exec', flags={ast.PyCF_ALLOW_TOP_LEVEL_AWAIT})\n"
        "asyncio.run(eval(code, {}))\n"
    )
    example = tmp_path / "first.py"
    example.write_text(python_blocks()[0])

    store = tmp_path / "store.db"
    environment = {**os.environ, "UNO_DEPLOY_DATABASE_URL": f"sqlite:///{store}"}
    done = subprocess.run(
        [sys.executable, str(script), str(example), str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "store after import: False"
    assert store.exists()
    assert re.fullmatch(r"Created deployment config with ID: cfg-\w+", lines[1])
