"""How long ``uno-deploy`` takes to answer, next to the floor: ``python -c pass`` in the same venv.

    .venv/bin/python benchmarks/cli_startup.py [--runs 9]

It times, as wall clock from spawn to exit, the commands a user types to look around:
``uno-deploy --version``, ``status ID``, ``config list`` and ``history`` on the embedded
store (a SQLite file), and ``import uno.deployment``; each figure is the median of
``--runs`` runs, printed beside the floor measured in the same run and the goal of
issue #16 (0.25 s for a command, 0.15 s for the import). It also lists, per command, the
heavy libraries it imported (from ``python -X importtime``): none of FastAPI, uvicorn,
Alembic, the Kubernetes client, SQLAlchemy (the listings read SQLite with ``sqlite3``),
structlog, rich or pydantic-settings should appear. Last,
it shows where ``history`` spends its imports: the self time ``-X importtime`` reports,
summed by top-level package (``uno.deployment`` by sub-package), as shares of the whole.

The store is a fresh SQLite file in a temporary directory, holding one configuration and
one deployment: ``deploy`` of a ``local`` configuration whose unit-test command is
``false`` runs its pipeline and fails at the testing stage, so nothing is started on this
machine. The
children run as an installed package does, with bytecode caches (the first, untimed run
of each command writes them): ``PYTHONDONTWRITEBYTECODE`` is dropped from their
environment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNO_DEPLOY = [sys.executable, "-m", "uno.deployment.entrypoints.cli"]
HEAVY = (
    "fastapi",
    "uvicorn",
    "alembic",
    "kubernetes",
    "sqlalchemy",
    "sqlalchemy.orm",
    "procrastinate",
    "structlog",
    "rich",
    "pydantic_settings",
)
COMMAND_GOAL = 0.25
IMPORT_GOAL = 0.15
CONFIG = {
    "app_name": "bench",
    "app_version": "1.0.0",
    "environment": "dev",
    "platform": "local",
    "strategy": "rolling",
    "custom_settings": {"command": ["python", "-c", "pass"]},
    "testing": {"unit_test_command": ["false"]},
}


def environment(directory: Path) -> dict[str, str]:
    chosen = {key: value for key, value in os.environ.items() if not key.startswith("UNO_DEPLOY_")}
    chosen.pop("PYTHONDONTWRITEBYTECODE", None)
    chosen |= {
        "UNO_DEPLOY_DATABASE_URL": f"sqlite:///{directory / 'uno.db'}",
        "UNO_DEPLOY_BACKUP_DIR": str(directory / "backups"),
        "UNO_DEPLOY_LOCAL_DIR": str(directory / "local"),
    }
    return chosen


def seed(directory: Path, env: dict[str, str]) -> str:
    """One configuration and one deployment in the store; the deployment's id."""
    path = directory / "bench.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")
    subprocess.run([*UNO_DEPLOY, "deploy", "-f", str(path)], env=env, capture_output=True, check=False, timeout=120)
    listed = subprocess.run([*UNO_DEPLOY, "history", "--json"], env=env, capture_output=True, check=True, timeout=60)
    deployments = json.loads(listed.stdout)
    if not deployments:
        raise SystemExit(f"seeding the store failed: {listed.stdout!r} {listed.stderr!r}")
    return str(deployments[0]["id"])


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(argv, env=env, capture_output=True, check=False, timeout=60)  # writes the bytecode caches
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False, timeout=60)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def import_times(argv: list[str], env: dict[str, str]) -> dict[str, int]:
    """Each module ``argv`` imported and its own import time in microseconds (``python -X importtime``)."""
    traced = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    times = {}
    for line in traced.stderr.splitlines():
        if line.startswith("import time:") and not line.endswith("| imported package"):
            own, _, name = line.removeprefix("import time:").split("|")
            if own.strip().isdigit():
                times[name.strip()] = int(own)
    return times


def heavy_imports(argv: list[str], env: dict[str, str]) -> list[str]:
    """The heavy libraries ``argv`` imported."""
    loaded = import_times(argv, env)
    return [name for name in HEAVY if name in loaded]


def breakdown(argv: list[str], env: dict[str, str], shown: int = 10) -> list[str]:
    """The packages whose imports cost ``argv`` the most, with their share of all its import time."""
    shares: Counter[str] = Counter()
    for name, own in import_times(argv, env).items():
        parts = name.split(".")
        shares[".".join(parts[:3]) if name.startswith("uno.deployment.") else parts[0]] += own
    total = sum(shares.values()) or 1
    return [f"{package} {100 * own / total:.0f}%" for package, own in shares.most_common(shown)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="uno-cli-startup-") as name:
        directory = Path(name)
        env = environment(directory)
        deployment_id = seed(directory, env)
        floor = timed([sys.executable, "-c", "pass"], env, runs)
        cases = [
            ("import uno.deployment", [sys.executable, "-c", "import uno.deployment"], IMPORT_GOAL),
            ("uno-deploy --version", [*UNO_DEPLOY, "--version"], COMMAND_GOAL),
            ("uno-deploy status ID", [*UNO_DEPLOY, "status", deployment_id], COMMAND_GOAL),
            ("uno-deploy config list", [*UNO_DEPLOY, "config", "list"], COMMAND_GOAL),
            ("uno-deploy history", [*UNO_DEPLOY, "history"], COMMAND_GOAL),
        ]
        print(f"median of {runs} runs, wall clock; floor: python -c pass = {floor:.3f} s")
        print(f"{'what':<24} {'seconds':>8} {'x floor':>8} {'goal':>6}  heavy imports")
        for label, argv, goal in cases:
            seconds = timed(argv, env, runs)
            heavy = ", ".join(heavy_imports(argv, env)) or "none"
            print(f"{label:<24} {seconds:8.3f} {seconds / floor:8.1f} {goal:6.2f}  {heavy}")
        print("history's import time by package: " + ", ".join(breakdown([*UNO_DEPLOY, "history"], env)))


if __name__ == "__main__":
    main()
