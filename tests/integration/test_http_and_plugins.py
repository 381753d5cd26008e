"""A health check against a real local server; a custom action installed through an entry point."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from uno.deployment import bootstrap
from uno.deployment.engine import plugins
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hello"


@pytest.fixture
def hello_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("HELLO_VERSION", "2.0.0")
    from app import serve  # type: ignore[import-not-found]

    server = serve(0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def check(container: bootstrap.Container, params: dict) -> object:
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "verification")).value
    assert await service.add_task(pipeline.id, stage.id, "probe", action="http_check", params=params, timeout=10)
    return (await service.execute_pipeline(pipeline.id)).value.task_named("probe")


async def test_a_healthy_server_passes_with_its_body_checked(container, hello_server: str):
    task = await check(container, {"url": f"{hello_server}/health", "body_contains": '"version": "2.0.0"'})

    assert task.status.value == "succeeded", task.message
    assert task.outputs["status"] == 200


async def test_a_missing_page_fails_with_what_was_seen(container, hello_server: str):
    task = await check(container, {"url": f"{hello_server}/missing", "deadline": 0.2, "interval": 0.1})

    assert task.status.value == "failed"
    assert "got 404, expected 200" in task.message


async def test_a_closed_port_is_reported_as_no_answer(container):
    task = await check(container, {"url": "http://127.0.0.1:9/health", "deadline": 0.2, "interval": 0.1})

    assert "no answer" in task.message


def install_plugin(root: Path, name: str, source: str) -> None:
    (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[uno.deployment.actions]\nnotify = {name}:Notify\n")


async def test_an_installed_plugin_action_runs_in_pipelines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ):
    install_plugin(
        tmp_path,
        "uno_notify_plugin",
        """
        from uno.deployment.engine.actions import ActionOutcome

        class Notify:
            kind = "notify"

            def check(self, params):
                return None if isinstance(params.get("channel"), str) else "notify needs 'channel'"

            async def run(self, context):
                return ActionOutcome.ok(f"told {context.params['channel']}")
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    container = bootstrap.build(Settings(database_url="memory://"), environ=environ)
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "announce")).value

    refused = await service.add_task(pipeline.id, stage.id, "tell", action="notify", params={})
    await service.add_task(pipeline.id, stage.id, "tell", action="notify", params={"channel": "#deploys"})
    finished = (await service.execute_pipeline(pipeline.id)).value

    assert "notify needs 'channel'" in refused.error.message
    assert finished.task_named("tell").message == "told #deploys"


def test_a_broken_plugin_stops_start_up_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    install_plugin(tmp_path, "uno_broken_plugin", "raise ImportError('missing dependency slack_sdk')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(plugins.PluginError, match=r"'notify' \(uno_broken_plugin:Notify\) failed to load: missing"):
        bootstrap.build(Settings(database_url="memory://"))

    assert sys.modules.get("uno_broken_plugin") is None
