"""Driving ``uno-deploy`` as a user does: a subprocess, real files, the output it prints.

The root conftest points the store, the backups and the local platform at the test's
tmp directory through ``UNO_DEPLOY_*`` variables, which every subprocess inherits.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"
UNO_DEPLOY = [sys.executable, "-m", "uno.deployment.entrypoints.cli"]
COMMAND_TIMEOUT = 240.0

T = TypeVar("T")


def uno_deploy(
    *arguments: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``uno-deploy ARGUMENTS`` to its end and return what it printed and its exit code."""
    return subprocess.run(
        [*UNO_DEPLOY, *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=COMMAND_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def ok(*arguments: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = uno_deploy(*arguments, cwd=cwd, env=env)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def as_json(*arguments: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return json.loads(ok(*arguments, "--json", cwd=cwd, env=env).stdout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hello_command() -> str:
    return f"{sys.executable} {HELLO / 'app.py'}"


def version_at(port: int) -> str | None:
    """The version the application on ``port`` says it is, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return str(json.load(response)["version"])
    except OSError:
        return None


def eventually(probe: Callable[[], T], *, what: str, timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"{what}: not before the deadline"
        time.sleep(0.1)
    return value


def environment(**changes: str) -> dict[str, str]:
    return {**os.environ, **changes}
