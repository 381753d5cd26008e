"""The supervisor's state file: round trips, atomic replacement, and refusing what it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uno.deployment.adapters.platforms.local.rotating import LogPolicy
from uno.deployment.adapters.platforms.local.state import ReplicaRecord, StateError, StateFile, VersionRecord

pytestmark = pytest.mark.integration

RECORDS = [
    VersionRecord(
        "v1",
        ("python", "app.py"),
        {"HELLO_VERSION": "1.0.0"},
        "/srv/app",
        (
            ReplicaRecord(0, 8001, 1234, 99, "2026-11-29T10:00:00+00:00", 2),
            ReplicaRecord(1, 8002),
        ),
        ("DB_PASSWORD",),
        LogPolicy(max_bytes=4096, backups=0),
    ),
    VersionRecord("v2", ("app",)),
]


def test_what_is_saved_is_loaded(tmp_path: Path):
    state = StateFile(tmp_path / "state")
    assert state.load() == {}

    state.save(RECORDS)

    assert state.load() == {record.version_id: record for record in RECORDS}
    assert json.loads(state.path.read_text())["format"] == 1


def test_a_save_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path: Path):
    state = StateFile(tmp_path)
    state.save(RECORDS)
    first_inode = state.path.stat().st_ino

    state.save(RECORDS[1:])

    assert list(state.load()) == ["v2"]
    assert state.path.stat().st_ino != first_inode  # a new file renamed over the old one, not rewritten in place
    assert sorted(path.name for path in tmp_path.iterdir()) == ["supervisor.json"]


def test_a_file_from_before_secret_names_and_log_settings_is_read_with_their_defaults(tmp_path: Path):
    state = StateFile(tmp_path)
    version = {"argv": ["app"], "env": {}, "workdir": None, "replicas": []}
    state.path.write_text(json.dumps({"format": 1, "versions": {"v1": version}}))

    assert state.load() == {"v1": VersionRecord("v1", ("app",), secret_names=(), logs=LogPolicy())}


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": 2, "versions": {}}',
        '{"format": 1}',
        '{"format": 1, "versions": {"v1": {"argv": "python app.py", "env": {}, "workdir": null, "replicas": []}}}',
        '{"format": 1, "versions": {"v1": {"argv": [], "env": {"A": 1}, "workdir": null, "replicas": []}}}',
        '{"format": 1, "versions": {"v1": {"argv": [], "env": {}, "workdir": null, "replicas": [{"index": 0}]}}}',
        '{"format": 1, "versions": {"v1": {"argv": [], "env": {}, "workdir": null, "replicas": [],'
        ' "logs": {"backups": -1}}}}',
        '{"format": 1, "versions": {"v1": {"argv": [], "env": {}, "workdir": null, "replicas": [],'
        ' "secret_names": "A"}}}',
    ],
)
def test_a_file_it_cannot_read_is_an_error_not_an_empty_state(tmp_path: Path, text: str):
    state = StateFile(tmp_path)
    state.path.write_text(text)

    with pytest.raises(StateError, match=r"supervisor\.json"):
        state.load()
