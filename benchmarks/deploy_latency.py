"""How long a blue-green deploy and a warm rollback of hello take on ``local``, next to the floor.

    .venv/bin/python benchmarks/deploy_latency.py [--runs 5]

The floor is the application's own time to healthy, measured in the same run: start
``python examples/hello/app.py`` twice (the deploy runs two replicas) and poll ``/health``
on both until each answers 200. Then, against a fresh embedded store and local state
directory, it deploys hello 2.0.0 (blue-green, two replicas, no tests, no build), then per
run deploys 1.0.0 with the CLI (a new version set each time) and rolls it back, and
reports per run the deployment's own duration (``finished_at - started_at`` of the
record) and the CLI's wall clock from spawn to exit; then ``uno-deploy rollback`` of the
last deploy while the previous release still runs (warm). Figures are medians (and the
fastest run: the machine may be busy), printed beside the goals of issue #16:
deployment ≤ floor + 0.3 s, CLI ≤ floor + 0.55 s, warm rollback ≤ 0.5 s. The first deploy
(it starts the agent) is not timed. The agent
and every replica are stopped at the end (``uno-deploy down`` and the agent's shutdown).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cli_startup import environment  # a store of its own in the run's directory, bytecode cached

ROOT = Path(__file__).resolve().parents[1]
UNO_DEPLOY = [sys.executable, "-m", "uno.deployment.entrypoints.cli"]
APP = [sys.executable, str(ROOT / "examples" / "hello" / "app.py")]
DEPLOY_MARGIN = 0.3
CLI_MARGIN = 0.25
ROLLBACK_GOAL = 0.5


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def floor_once() -> float:
    """Seconds from spawning two hello processes to both answering ``/health`` with 200."""
    ports = [free_port(), free_port()]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(APP, env=os.environ | {"PORT": str(port)}, stdout=subprocess.DEVNULL) for port in ports
    ]
    try:
        waiting = set(ports)
        deadline = started + 30
        while waiting and time.perf_counter() < deadline:
            waiting = {port for port in waiting if not healthy(port)}
        if waiting:
            raise SystemExit("hello did not become healthy within 30 s")
        return time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def config_file(directory: Path, version: str, port: int) -> Path:
    config = {
        "app_name": "hello",
        "app_version": version,
        "environment": "dev",
        "platform": "local",
        "strategy": "blue-green",
        "resource_requirements": {"replicas_min": 2, "replicas_max": 2},
        "network_config": {"health_check_path": "/health"},
        "custom_settings": {"command": APP, "port": port, "health_deadline_seconds": 60},
    }
    path = directory / f"hello-{version}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def run(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, object]]:
    """Wall seconds of ``argv`` (a CLI command with ``--json``) and the deployment it printed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[3:]} failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    printed = json.loads(done.stdout)
    return wall, printed.get("deployment", printed)


def duration(deployment: dict[str, object]) -> float:
    started, finished = deployment["started_at"], deployment["finished_at"]
    if not isinstance(started, str) or not isinstance(finished, str):
        raise SystemExit(f"the deployment has not ended: {deployment}")
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


@contextlib.contextmanager
def local_platform(env: dict[str, str]) -> Iterator[None]:
    try:
        yield
    finally:
        down = [*UNO_DEPLOY, "down", "hello", "--env", "dev"]
        subprocess.run(down, env=env, capture_output=True, timeout=60, check=False)
        script = "import asyncio, os; from pathlib import Path; "
        script += "from uno.deployment.adapters.platforms.local.driver import LocalDriver; "
        script += "asyncio.run(LocalDriver(Path(os.environ['UNO_DEPLOY_LOCAL_DIR'])).shutdown())"
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="uno-deploy-latency-") as name:
        directory = Path(name)
        env = environment(directory)
        port = free_port()
        files = [config_file(directory, version, port) for version in ("1.0.0", "2.0.0")]
        with local_platform(env):
            run([*UNO_DEPLOY, "deploy", "-f", str(files[1]), "--json"], env)  # starts the agent; not timed
            floors, durations, walls, rollbacks = [], [], [], []
            for _ in range(runs):
                floors.append(floor_once())
                wall, deployment = run([*UNO_DEPLOY, "deploy", "-f", str(files[0]), "--json"], env)
                durations.append(duration(deployment))
                walls.append(wall)
                rollback_wall, _ = run([*UNO_DEPLOY, "rollback", "hello", "--env", "dev", "--json"], env)
                rollbacks.append(rollback_wall)
        floor = statistics.median(floors)
        print(f"median (fastest) of {runs} runs; floor: hello's own time to healthy (2 processes) = {floor:.3f} s")
        print(f"{'what':<28} {'median':>8} {'fastest':>8} {'goal':>8}")
        goals = {"deploy": floor + DEPLOY_MARGIN, "cli": floor + DEPLOY_MARGIN + CLI_MARGIN}
        for label, figures, goal in (
            ("deployment (record)", durations, goals["deploy"]),
            ("uno-deploy deploy (wall)", walls, goals["cli"]),
            ("uno-deploy rollback (warm)", rollbacks, ROLLBACK_GOAL),
        ):
            print(f"{label:<28} {statistics.median(figures):8.3f} {min(figures):8.3f} {goal:8.3f}")


if __name__ == "__main__":
    main()
