"""kill -9 of ``uno-deploy deploy`` at a random moment, then the next command: stuck or backward?

    .venv/bin/python benchmarks/orphans.py [--trials 20] [--store sqlite|postgresql] [--seed 1]

Each trial deploys the next version of the example application on the local platform
with one of the four strategies (in turn), kills the deploying process with SIGKILL at a
random moment of its run (0-4 s after it printed its first line: preparation, tests or
the rollout itself), then runs the next command a user would: ``uno-deploy status``
of the killed deployment (odd trials) or a ``deploy`` of the version after it (even
trials). It counts:

- stuck: a deployment still ``pending``, ``running`` or ``rolling-back`` once that
  command is done (the status is polled until the lease TTL plus 10 s at most);
- backward: the application answering with any version but the one history says is
  current (the newest succeeded deploy), over 20 requests;
- seconds from the kill until the killed deployment had ended, against the lease TTL
  (what waiting for the lease would cost): the ratio printed is recovery / TTL.

Everything runs on 127.0.0.1 in a temporary directory (and, for ``postgresql``, a fresh
database on the local server, dropped at the end), bounded in count and time; the local
platform is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "hello" / "app.py"
UNO_DEPLOY = [sys.executable, "-m", "uno.deployment.entrypoints.cli"]
STRATEGIES = ("blue-green", "rolling", "canary", "recreate")
CANARY = "custom_settings.canary={steps: [50, 100], analysis_seconds: 0.5, min_requests: 0}"
LEASE_TTL = 60.0
ACTIVE = ("pending", "queued", "running", "rolling-back")
COMMAND_DEADLINE = 300.0


def run(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UNO_DEPLOY, *arguments],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_DEADLINE,
        check=False,
    )


def history(env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    done = run("history", "--limit", "1000", "--json", env=env, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"uno-deploy history failed ({done.returncode}): {done.stderr.strip()}")
    return list(json.loads(done.stdout))


def served(port: int, requests: int = 20) -> set[str]:
    answers = set()
    for _ in range(requests):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                answers.add(str(json.load(response)["version"]))
        except OSError as error:
            answers.add(f"error: {error}")
    return answers


def current_release(records: list[dict[str, Any]]) -> str | None:
    deploys = [item for item in records if item["kind"] == "deploy" and item["status"] == "succeeded"]
    return deploys[0]["app_version"] if deploys else None  # history is newest first


def deploy_arguments(version: str, strategy: str) -> list[str]:
    sets = [f"app_version={version}", f"strategy={strategy}"] + ([CANARY] if strategy == "canary" else [])
    return ["deploy", "-f", "deployment.yaml", *[part for value in sets for part in ("--set", value)]]


def trial(number: int, rng: random.Random, env: dict[str, str], cwd: Path, port: int) -> dict[str, Any]:
    strategy = STRATEGIES[number % len(STRATEGIES)]
    version = f"{number + 2}.0.0"
    printed = cwd / f"deploy-{number}.out"
    with printed.open("w") as output:
        deploying = subprocess.Popen(
            [*UNO_DEPLOY, *deploy_arguments(version, strategy)],
            env={**env, "PYTHONUNBUFFERED": "1"},  # its first line names the deployment: let it reach the file
            cwd=cwd,
            stdout=output,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while "dep-" not in printed.read_text() and deploying.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 4.0))  # from its first line on: any moment of its run
        killed_at = time.monotonic()
        finished_first = deploying.poll() is not None
        deploying.send_signal(signal.SIGKILL)
        deploying.wait()
    started = re.search(r"dep-\w+", printed.read_text())
    outcome: dict[str, Any] = {"strategy": strategy, "version": version, "killed_mid_run": not finished_first}
    if started is None:  # killed before it stored anything: nothing to recover
        outcome["next"] = "nothing"
    elif number % 2:
        outcome["next"] = "status"
        while time.monotonic() - killed_at < LEASE_TTL + 10:
            shown = json.loads(run("status", started.group(0), "--json", env=env, cwd=cwd).stdout)["deployment"]
            if shown["status"] not in ACTIVE:
                break
        outcome["recovered_in"] = time.monotonic() - killed_at
    else:
        outcome["next"] = "deploy"
        after = run(*deploy_arguments(f"{number + 2}.5.0", strategy), env=env, cwd=cwd)
        outcome["next_deploy_exit"] = after.returncode
        outcome["recovered_in"] = time.monotonic() - killed_at
    records = history(env, cwd)
    killed = next((item for item in records if started and item["id"] == started.group(0)), None)
    if killed is not None:
        outcome["ended_as"] = f"{killed['status']}: {killed['message'][:120]}"
    outcome["stuck"] = [item["id"] for item in records if item["status"] in ACTIVE]
    expected, answers = current_release(records), served(port)
    outcome["backward"] = answers != {expected}
    outcome["served"], outcome["expected"] = sorted(answers), expected
    return outcome


def postgres_database() -> tuple[str, str]:
    server = os.environ.get("UNO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"uno_orphans_{secrets.token_hex(4)}"
    subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {name}"], check=True)
    return server, server.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="uno-orphans-") as directory:
        cwd = Path(directory)
        server, url = postgres_database() if options.store == "postgresql" else ("", f"sqlite:///{cwd / 'store.db'}")
        env = {
            **os.environ,
            "UNO_DEPLOY_DATABASE_URL": url,
            "UNO_DEPLOY_LOCAL_DIR": str(cwd / "local"),
            "UNO_DEPLOY_BACKUP_DIR": str(cwd / "backups"),
        }
        try:
            outcomes = trials(options.trials, rng, env, cwd)
        finally:
            run("down", env=env, cwd=cwd)
            if server:
                name = url.rsplit("/", 1)[1]
                subprocess.run(["psql", server, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    report(outcomes, options.store)


def trials(count: int, rng: random.Random, env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    port = free_port()
    init = run("init", "hello", "--command", f"{sys.executable} {APP}", "--port", str(port), env=env, cwd=cwd)
    assert init.returncode == 0, init.stderr
    first = run(*deploy_arguments("1.0.0", "blue-green"), env=env, cwd=cwd)
    assert first.returncode == 0, first.stdout + first.stderr
    outcomes = []
    for number in range(count):
        outcome = trial(number, rng, env, cwd, port)
        print(json.dumps(outcome), flush=True)
        outcomes.append(outcome)
    return outcomes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def report(outcomes: list[dict[str, Any]], store: str) -> None:
    ended = [item for item in outcomes if _orphaned(item.get("ended_as", ""))]
    stuck = sum(1 for item in outcomes if item["stuck"])
    backward = sum(1 for item in outcomes if item["backward"])
    seconds = [item["recovered_in"] for item in ended if item["next"] == "status"]
    print(f"store: {store}; trials: {len(outcomes)}; killed before they ended (orphans): {len(ended)}")
    print(f"stuck: {stuck}; backward switches: {backward}")
    if seconds:
        median = statistics.median(seconds)
        print(
            f"kill -> ended, through status: median {median:.1f} s, max {max(seconds):.1f} s, "
            f"a rollback included where one ran (lease TTL {LEASE_TTL:.0f} s; ratio {median / LEASE_TTL:.2f})"
        )


def _orphaned(ended_as: str) -> bool:
    """Whether the killed deployment was ended by the next command (not finished before the kill)."""
    return "its runner" in ended_as


if __name__ == "__main__":
    main()
