"""``scripts/test`` sets the project up whenever .venv was not set up from this pyproject.toml.

Run in a copy of the project's scripts, with a ``scripts/setup`` that only records that it
ran (and stamps, as the real one does), and a ``pytest`` that only says it ran.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE_SETUP = """#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .venv/bin
printf '#!/usr/bin/env bash\\necho pytest "$@"\\n' > .venv/bin/pytest
chmod +x .venv/bin/pytest
echo setup >> setup.log
bash scripts/stamp > .venv/.setup-stamp
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for name in ("test", "stamp"):
        shutil.copy2(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    (tmp_path / "scripts" / "setup").write_text(FAKE_SETUP)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    return tmp_path


def run_tests(root: Path) -> str:
    done = subprocess.run(
        ["bash", "scripts/test", "-q"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "UNO_TEST_POSTGRES_URL": "postgresql://unused"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def setups(root: Path) -> int:
    log = root / "setup.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_scripts_test_sets_up_an_environment_it_did_not_set_up_and_only_then(tmp_path: Path):
    root = project(tmp_path)
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "pytest").write_text("#!/usr/bin/env bash\necho pytest of a bare pip install\n")
    (root / ".venv" / "bin" / "pytest").chmod(0o755)

    assert run_tests(root) == "pytest -q\n"  # pytest was there, but not installed by scripts/setup
    assert setups(root) == 1

    assert run_tests(root) == "pytest -q\n"
    assert setups(root) == 1  # set up from this pyproject.toml: nothing to do

    (root / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["y"]\n')
    run_tests(root)
    assert setups(root) == 2
