"""What the local agent records of each version set, and the small answers it makes about them.

A ``VersionMeta`` is what ``agent.json`` keeps per version set (never a secret): enough
for a restarted agent to route and probe the replicas it adopts exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure
from uno.deployment.adapters.platforms.local import rotating
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo, ReplicaState


@dataclass
class VersionMeta:
    id: str
    app: str
    environment: str
    version: str
    deployment_id: str
    port: int
    health_path: str
    health_interval: float = 1.0
    health_timeout: float = 5.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    retire_at: float | None = None  # wall-clock time the rollback window ends (None: not retiring)

    @classmethod
    def from_request(cls, request: dict[str, Any], version_id: str) -> VersionMeta:
        """What a ``create_version`` request says of the version set; probe settings default as the driver's do."""
        return cls(
            version_id,
            request["app"],
            request["environment"],
            request["version"],
            request["deployment_id"],
            int(request["port"]),
            request["health_path"],
            float(request.get("health_interval", 1.0)),
            float(request.get("health_timeout", 5.0)),
            int(request.get("healthy_threshold", 1)),
            int(request.get("unhealthy_threshold", 3)),
        )


def log_policy(request: dict[str, Any]) -> rotating.LogPolicy:
    """The request's log settings; a driver older than them sends none and gets the defaults."""
    max_bytes = int(request.get("log_max_bytes", rotating.DEFAULT_MAX_BYTES))
    return rotating.LogPolicy(max_bytes, int(request.get("log_backups", rotating.DEFAULT_BACKUPS)))


def unknown(version_id: str) -> Failure:
    return Failure(ErrorDetails(ErrorCode.NOT_FOUND, f"version set {version_id} is not running", {}))


def exits(replicas: Iterable[ReplicaInfo]) -> list[str]:
    """Why replicas that crashed lately ended (e.g. over their memory limit), for the version's health."""
    return [
        f"replica {replica.index} {replica.last_exit}"
        for replica in replicas
        if replica.state is ReplicaState.CRASHING and replica.last_exit
    ]


def problem(replica: Any) -> str:
    last = replica.last
    if last is None:
        return "not probed yet"
    return last.error or (f"health answered {last.status}" if last.status else "")
