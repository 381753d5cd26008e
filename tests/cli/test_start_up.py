"""What a command loads to answer, as ``python -X importtime`` shows it: only what it needs.

Issue #16: ``uno-deploy --version``, ``status``, ``config list`` and ``history`` on the
embedded store, and ``import uno.deployment``, must not pay for the HTTP API, Alembic,
the Kubernetes client or SQLAlchemy's ORM. The look-around commands read a SQLite store
directly (``entrypoints/cli/looking``): no SQLAlchemy at all, no services or engine, no
structlog, rich, YAML or event loop, nor the settings' pydantic model when they name only
the store and the directories, as here. (Typer itself loads pydantic to convert a
command's parameters.) The times themselves are
``benchmarks/cli_startup.py``'s (no test asserts wall time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tests.cli.support import UNO_DEPLOY, ok, uno_deploy

HEAVY = {"fastapi", "uvicorn", "alembic", "kubernetes", "sqlalchemy.orm", "sqlalchemy.ext.asyncio", "httpx"}
NOT_FOR_LOOKING = {
    "sqlalchemy",
    "structlog",
    "pydantic_settings",
    "rich",
    "yaml",
    "asyncio",
    "uno.deployment.services",
    "uno.deployment.engine.running",
    "uno.deployment.domain.configs",
    "uno.deployment.settings.model",  # the settings say nothing but where the store and the directories are
}


def imported(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    traced = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=False, timeout=120
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines() if line.startswith("import time:")}
    return traced, names


def test_version_loads_neither_the_store_nor_the_services():
    done, names = imported([*UNO_DEPLOY, "--version"])

    assert done.returncode == 0
    assert done.stdout.startswith("uno-deploy ")
    assert not {"sqlalchemy", "uno.deployment.bootstrap", "uno.deployment.settings"} & names


def test_the_looking_commands_on_the_embedded_store_load_no_heavy_library(tmp_path: Path):
    config = tmp_path / "look.json"
    config.write_text(
        json.dumps(
            {
                "app_name": "look",
                "app_version": "1.0.0",
                "environment": "dev",
                "platform": "local",
                "custom_settings": {"command": ["python3", "-c", "pass"]},
                "testing": {"unit_test_command": ["false"]},
            }
        ),
        encoding="utf-8",
    )
    uno_deploy("deploy", "-f", str(config))  # stops at the failing unit tests, recorded; nothing started
    [deployment] = json.loads(ok("history", "--json").stdout)

    for command in (["status", deployment["id"]], ["config", "list"], ["history"], ["history", "look", "dev"]):
        done, names = imported([*UNO_DEPLOY, *command])

        assert done.returncode == 0, done.stderr[-2000:]
        assert "look" in done.stdout
        assert not (HEAVY | NOT_FOR_LOOKING) & names, (command, (HEAVY | NOT_FOR_LOOKING) & names)


def test_importing_the_package_loads_a_name_when_it_is_read_and_readies_inject_for_a_service():
    probe = (
        "import sys, inject, uno.deployment as package\n"
        "before = sorted(name for name in sys.modules if name.startswith('uno.deployment.'))\n"
        "configured = inject.is_configured()\n"
        "from uno.deployment import DeploymentConfig, DeploymentConfigService\n"
        "service = inject.instance(DeploymentConfigService)\n"
        "print(before, configured, DeploymentConfig.__name__, type(service).__name__, package.__version__)\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)

    version = metadata.version("uno-deployment")
    assert done.stdout.split() == ["[]", "False", "DeploymentConfig", "DeploymentConfigService", version]
