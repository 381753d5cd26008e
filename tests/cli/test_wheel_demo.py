"""The demo from an installed wheel, away from any source checkout: the wheel carries the example."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.cli.support import ROOT, as_json, free_port, ok, uno_deploy, version_at

pytestmark = pytest.mark.integration
BUILD_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as a wheel, as ``pip install uno-deployment`` would get it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        timeout=BUILD_TIMEOUT,
        capture_output=True,
    )
    (built,) = out.glob("uno_deployment-*.whl")
    return built


def test_the_wheel_carries_the_example_application(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())

    assert {
        "uno/deployment/examples/hello/app.py",
        "uno/deployment/examples/hello/test_app.py",
        "uno/deployment/examples/hello/deployment.json",
    } <= names
    assert not any("__pycache__" in name for name in names)


def test_the_demo_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        timeout=BUILD_TIMEOUT,
        capture_output=True,
    )
    # the installed package comes first; the dependencies still come from this environment
    environment = {**os.environ, "PYTHONPATH": str(site)}
    port = free_port()
    try:
        shown = ok("demo", "--port", str(port), "--exit-after-ready", cwd=tmp_path, env=environment)

        assert f"hello 2.0.0 is served at http://127.0.0.1:{port}/" in shown.stdout
        assert version_at(port) == "2.0.0"
        listed = as_json("config", "list", cwd=tmp_path, env=environment)
        (config_id,) = [item["id"] for item in listed if item["app_name"] == "hello"]
        commands = ok("config", "show", config_id, "--json", cwd=tmp_path, env=environment).stdout
        assert str(site / "uno" / "deployment" / "examples" / "hello" / "app.py") in commands
        assert str(ROOT / "examples") not in commands  # nothing from the checkout but this interpreter
    finally:
        uno_deploy("down", env=environment)
