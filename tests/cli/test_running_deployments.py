"""Deployments that run a while: --no-wait, cancel from another terminal, Ctrl-C, a failure's exit code, the demo."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.support import UNO_DEPLOY, as_json, eventually, free_port, hello_command, ok, uno_deploy, version_at

pytestmark = pytest.mark.integration

SLOW_TESTS = "testing.unit_test_command=[sleep, '120']"


def init(tmp_path: Path, app: str = "hello") -> int:
    port = free_port()
    ok("init", app, "--command", hello_command(), "--port", str(port), cwd=tmp_path)
    return port


def status_of(deployment_id: str) -> str:
    return str(as_json("status", deployment_id)["deployment"]["status"])


def test_no_wait_returns_at_once_and_cancel_from_another_terminal_stops_it(tmp_path: Path):
    init(tmp_path)

    started = ok("deploy", "-f", "deployment.yaml", "--set", SLOW_TESTS, "--no-wait", cwd=tmp_path)

    match = re.match(r"started (dep-\w+): deploy of hello 1\.0\.0 to dev", started.stdout)
    assert match is not None, started.stdout
    deployment_id = match.group(1)
    assert f"follow it: uno-deploy status {deployment_id} --wait" in started.stdout
    assert "running in the background (pid " in started.stderr
    eventually(lambda: "run-unit-tests       running" in ok("status", deployment_id).stdout, what="tests running")

    canceled = ok("cancel", deployment_id, "--reason", "wrong version")

    assert canceled.stdout.startswith(f"{deployment_id}: cancel requested; now canceled in ")
    assert "wrong version" in canceled.stdout
    status = ok("status", deployment_id).stdout
    assert re.search(r"run-unit-tests +canceled .*wrong version", status)
    runs = tmp_path / "runs"
    eventually(lambda: not (runs / f"{deployment_id}.pid").exists(), what="the detached process ended")


def test_ctrl_c_cancels_a_deploy_this_terminal_runs_and_exits_1(tmp_path: Path):
    init(tmp_path)
    deploying = subprocess.Popen(
        [*UNO_DEPLOY, "deploy", "-f", "deployment.yaml", "--set", SLOW_TESTS],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(lambda: any(item["status"] == "running" for item in as_json("history")), what="the deploy running")
        deployment_id = as_json("history")[0]["id"]
        eventually(lambda: "run-unit-tests       running" in ok("status", deployment_id).stdout, what="tests running")
        deploying.send_signal(signal.SIGINT)
        stdout, _ = deploying.communicate(timeout=120)
    finally:
        if deploying.poll() is None:
            deploying.kill()
            deploying.wait()

    assert deploying.returncode == 1
    assert re.search(r"canceled in [\d.]+s: hello 1\.0\.0 in dev: canceled by .*interrupted\n$", stdout)
    assert status_of(deployment_id) == "canceled"


def test_a_deploy_that_fails_exits_1_and_says_why(tmp_path: Path):
    init(tmp_path)

    failed = uno_deploy(
        "deploy", "-f", "deployment.yaml", "--set", 'testing.unit_test_command=[sh, -c, "exit 1"]', cwd=tmp_path
    )

    assert failed.returncode == 1
    assert re.search(r"run-unit-tests +failed .*unit tests exited with code 1", failed.stdout)
    assert re.search(r"failed in [\d.]+s: hello 1\.0\.0 in dev not deployed: ", failed.stdout.splitlines()[-1])
    failing = ["--set", 'testing.unit_test_command=[sh, -c, "exit 1"]']  # a --set holds for its own deploy only
    as_machine = uno_deploy("deploy", "-f", "deployment.yaml", *failing, "--json", cwd=tmp_path)
    assert as_machine.returncode == 1


def test_the_demo_serves_v2_and_down_stops_it(tmp_path: Path):
    port = free_port()

    shown = ok("demo", "--port", str(port), "--exit-after-ready", cwd=tmp_path)

    assert "== deploy hello 1.0.0 (blue-green, 2 replicas)" in shown.stdout
    assert f"http://127.0.0.1:{port}/ answers version 1.0.0" in shown.stdout
    assert f"http://127.0.0.1:{port}/ answers version 2.0.0" in shown.stdout
    assert f"hello 2.0.0 is served at http://127.0.0.1:{port}/" in shown.stdout
    assert version_at(port) == "2.0.0"

    ok("down")
    assert version_at(port) is None


def test_the_demo_stays_until_down_stops_the_platform(tmp_path: Path):
    port = free_port()
    staying = subprocess.Popen(
        [*UNO_DEPLOY, "demo", "--port", str(port)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        eventually(lambda: version_at(port) == "2.0.0", what="v2 served", timeout=120)
        ok("down")
        stdout, _ = staying.communicate(timeout=60)
    finally:
        if staying.poll() is None:
            staying.kill()
            staying.wait()

    assert staying.returncode == 0
    assert stdout.endswith("the local platform was stopped (uno-deploy down): nothing serves hello any more\n")


GATED_PIPELINE = """
import asyncio, sys
import uno.deployment
from uno.deployment import bootstrap

async def main():
    container = uno.deployment.configure()
    configs, pipelines = container.config_service, container.pipeline_service
    config = (await configs.create_config(app_name="gated", app_version="1.0.0", environment="dev")).value
    pipeline = (await pipelines.create_pipeline("gated", deployment_id=config.id)).value
    stage = (await pipelines.add_stage(pipeline.id, "release")).value
    await pipelines.add_task(pipeline.id, stage.id, "sign-off", action="approval", params={"poll_interval": 0.1})
    print(pipeline.id.value, flush=True)
    done = (await pipelines.execute_pipeline(pipeline.id)).value
    print(done.status.value, [task.message for _, task in done.tasks()], flush=True)
    await container.aclose()

asyncio.run(main())
"""


@pytest.mark.parametrize(("decision", "outcome"), [("approve", "succeeded"), ("reject", "failed")])
def test_approve_and_reject_decide_a_gate_that_another_process_waits_on(decision: str, outcome: str):
    refusals: list[str] = []

    def decide() -> subprocess.CompletedProcess[str] | None:
        done = uno_deploy(decision, pipeline_id, "--comment", "checked the dashboards")
        if done.returncode == 0:
            return done
        refusals.append(done.stderr)
        return None

    with subprocess.Popen([sys.executable, "-c", GATED_PIPELINE], stdout=subprocess.PIPE, text=True) as waiting:
        assert waiting.stdout is not None
        pipeline_id = waiting.stdout.readline().strip()
        decided = eventually(decide, what="a decision taken")  # no gate waits until the pipeline runs
        stdout, _ = waiting.communicate(timeout=60)

    assert re.match(rf"{decision.removesuffix('e')}ed gate task-\w+ of {pipeline_id} as ", decided.stdout)
    assert set(refusals) <= {f"error: no approval gate of {pipeline_id} is waiting for a decision\n"}
    assert stdout.startswith(outcome)
    if decision == "reject":
        assert "checked the dashboards" in stdout


CANARY = [
    "strategy=canary",
    "custom_settings.canary={steps: [50, 100], analysis_seconds: 0.5, min_requests: 0, pause_after: [50]}",
]


@pytest.mark.parametrize(("decision", "code", "served"), [("promote", 0, "2.0.0"), ("abort", 1, "1.0.0")])
def test_promote_and_abort_decide_a_paused_canary(tmp_path: Path, decision: str, code: int, served: str):
    port = init(tmp_path)
    sets = [argument for value in CANARY for argument in ("--set", value)]
    ok("deploy", "-f", "deployment.yaml", *sets, cwd=tmp_path)
    started = ok("deploy", "-f", "deployment.yaml", *sets, "--set", "app_version=2.0.0", "--no-wait", cwd=tmp_path)
    deployment_id = started.stdout.split()[1].rstrip(":")
    eventually(lambda: "paused at 50% until promoted" in ok("status", deployment_id).stdout, what="the canary paused")

    steered = ok(decision, deployment_id, *(["--reason", "p99 too high"] if decision == "abort" else []))
    ended = uno_deploy("status", deployment_id, "--wait")

    assert steered.stdout.startswith(
        f"{deployment_id}: {'promoted to its next step' if code == 0 else 'abort requested'}"
    )
    assert ended.returncode == code, ended.stdout + ended.stderr
    assert version_at(port) == served
    if decision == "abort":
        assert "p99 too high" in ended.stdout.splitlines()[-1]
