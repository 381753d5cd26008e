"""Opening a store at head skips Alembic; a store behind it, or a file it cannot read plainly, still migrates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from uno.deployment import bootstrap
from uno.deployment.adapters.repositories.sql import connecting, migrating, revisions
from uno.deployment.settings import Settings


def test_the_newest_revision_read_from_the_scripts_is_alembics_head():
    assert revisions.newest() == migrating.head()


def test_a_store_behind_head_is_migrated_when_opened_and_then_known_to_be_at_head(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    where = connecting.target(url)
    assert not revisions.at_head(where)  # no file yet: nothing is created by asking
    assert not where.path.exists()
    migrating.upgrade(where)
    previous = migrating.current(where).after
    migrating.downgrade(where, "-1")
    assert migrating.current(where).after != previous
    assert not revisions.at_head(where)

    bootstrap.build(Settings(database_url=url))

    assert migrating.current(where).after == migrating.head()
    assert revisions.at_head(where)


def test_opening_a_store_at_head_does_not_load_alembic(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'current.db'}"
    migrating.upgrade(connecting.target(url))
    probe = (
        "import sys; from uno.deployment.adapters.repositories.sql import stores; "
        "from uno.deployment.adapters.clocks import SystemClock; "
        f"stores.open_store({url!r}, SystemClock()); print('alembic' in sys.modules)"
    )

    opened = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert opened.stdout.strip() == "False"


def test_scripts_that_are_not_plain_to_read_leave_the_decision_to_alembic(tmp_path: Path):
    (tmp_path / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "0001_a.py").write_text('revision: str = "0001"\ndown_revision: str | None = None\n', encoding="utf-8")
    assert revisions.head_of(tmp_path) == "0001"
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n', encoding="utf-8")
    assert revisions.head_of(tmp_path) == "0002"
    (tmp_path / "0003_merge.py").write_text('revision = "0003"\ndown_revision = ("0002", "x")\n', encoding="utf-8")
    assert revisions.head_of(tmp_path) is None
    (tmp_path / "0003_merge.py").unlink()
    (tmp_path / "0003_fork.py").write_text('revision = "0003"\ndown_revision = "0001"\n', encoding="utf-8")
    assert revisions.head_of(tmp_path) is None  # two heads
