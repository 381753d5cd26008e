"""The persisted truth of what the local supervisor runs: one JSON file in its state directory.

Why: replicas run in their own sessions and outlive the agent that started them. When
the agent starts again it must know which processes are its replicas (to report and stop
them) and what to run for those that died meanwhile. This file is that memory.

Invariants:
- the file is replaced atomically (a temporary file in the same directory, fsync,
  ``os.replace``, fsync of the directory): a reader sees the old state or the new one, never
  a torn one, even across a power cut;
- a replica is recorded with the start time of its process (``start_ticks``), so a later
  reader can tell the process from another one that reused its pid;
- ``env`` is stored as given. Callers pass non-secret values only: the file is readable by
  the agent's user (mode 0600), but it is not a secret store. Of the secrets, only their
  names are written (``secret_names``), so that an adopting supervisor knows which
  variables to recover from a surviving replica; their values never are.
- keys added since format 1 (``secret_names``, ``logs``, ``confinement``) are optional when read, so a file
  written by an older agent is adopted with their defaults.
- an unreadable or malformed file raises ``StateError``: guessing would hide processes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uno.deployment.adapters.platforms.local import rotating
from uno.deployment.adapters.platforms.local.confinement import Confinement
from uno.deployment.adapters.platforms.local.rotating import LogPolicy

FORMAT = 1
FILE_NAME = "supervisor.json"


class StateError(Exception):
    """The state file exists but cannot be read as a state this version understands."""


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    index: int
    port: int
    pid: int | None = None  # None while no process runs (waiting to restart)
    start_ticks: int | None = None  # /proc/<pid>/stat field 22 at spawn; None when unknown
    started_at: str | None = None  # ISO 8601, UTC
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class VersionRecord:
    version_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    replicas: tuple[ReplicaRecord, ...] = ()
    secret_names: tuple[str, ...] = ()  # the names only: values are never written
    logs: LogPolicy = field(default_factory=LogPolicy)
    confinement: Confinement = field(default_factory=Confinement)


class StateFile:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def load(self) -> dict[str, VersionRecord]:
        """The recorded version sets by id; empty when nothing was ever recorded."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise StateError(f"{self.path}: {error}") from error
        try:
            return _versions_from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StateError(f"{self.path}: not a supervisor state file ({error})") from error

    def save(self, versions: Iterable[VersionRecord]) -> None:
        document = {"format": FORMAT, "versions": {record.version_id: _version_to_json(record) for record in versions}}
        _write_atomically(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _version_to_json(record: VersionRecord) -> dict[str, Any]:
    return {
        "argv": list(record.argv),
        "env": dict(record.env),
        "workdir": record.workdir,
        "replicas": [_replica_to_json(replica) for replica in record.replicas],
        "secret_names": list(record.secret_names),
        "logs": {"max_bytes": record.logs.max_bytes, "backups": record.logs.backups},
        "confinement": record.confinement.to_json(),
    }


def _replica_to_json(record: ReplicaRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "port": record.port,
        "pid": record.pid,
        "start_ticks": record.start_ticks,
        "started_at": record.started_at,
        "restarts": record.restarts,
    }


def _versions_from_json(document: Any) -> dict[str, VersionRecord]:
    if document.get("format") != FORMAT:
        raise ValueError(f"format {document.get('format')!r}, expected {FORMAT}")
    return {
        str(version_id): _version_from_json(str(version_id), data) for version_id, data in document["versions"].items()
    }


def _version_from_json(version_id: str, data: Any) -> VersionRecord:
    argv = tuple(_string(item) for item in _list(data["argv"]))
    env = {_string(name): _string(value) for name, value in data["env"].items()}
    workdir = data["workdir"]
    if workdir is not None:
        workdir = _string(workdir)
    replicas = tuple(_replica_from_json(item) for item in _list(data["replicas"]))
    secret_names = tuple(_string(name) for name in _list(data.get("secret_names", [])))
    logs = data.get("logs", {})
    policy = LogPolicy(
        _integer(logs.get("max_bytes", rotating.DEFAULT_MAX_BYTES)),
        _integer(logs.get("backups", rotating.DEFAULT_BACKUPS)),
    )
    confinement = Confinement.from_json(data.get("confinement"))
    return VersionRecord(version_id, argv, env, workdir, replicas, secret_names, policy, confinement)


def _replica_from_json(data: Any) -> ReplicaRecord:
    return ReplicaRecord(
        index=_integer(data["index"]),
        port=_integer(data["port"]),
        pid=_optional_integer(data["pid"]),
        start_ticks=_optional_integer(data["start_ticks"]),
        started_at=None if data["started_at"] is None else _string(data["started_at"]),
        restarts=_integer(data["restarts"]),
    )


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, found {value!r}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {value!r}")
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, found {value!r}")
    return value


def _optional_integer(value: Any) -> int | None:
    return None if value is None else _integer(value)
