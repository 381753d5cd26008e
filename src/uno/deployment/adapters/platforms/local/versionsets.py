"""What the local agent records of each version set, and the small answers it makes about them.

A ``VersionMeta`` is what ``agent.json`` keeps per version set (never a secret): enough
for a restarted agent to route, probe and autoscale the replicas it adopts exactly as
before (``autoscaling`` is a ``scaling.Policy`` as the driver sent it, None when off), and
the scales the autoscaler made (``scale_events``, the newest last).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure
from uno.deployment.adapters.platforms.local import rotating, scaling, tls
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo, ReplicaState
from uno.deployment.adapters.platforms.local.routing import Router


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
    autoscaling: dict[str, Any] | None = None
    scale_events: list[dict[str, Any]] = field(default_factory=list)
    domain: str | None = None  # the one host its router serves (``hosts``)
    use_https: bool = False  # its router terminates TLS with these files (paths only: never a key itself)
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

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
            autoscaling=_policy(request.get("autoscaling")),
            domain=request.get("domain"),
            use_https=bool(request.get("use_https", False)),
            tls_cert_file=request.get("tls_cert_file"),
            tls_key_file=request.get("tls_key_file"),
        )

    def router(self) -> Router:
        """A router for this version's application as it asks (not started); ``OSError``/``ssl.SSLError`` when
        its certificate cannot be loaded."""
        context = None
        if self.use_https and self.tls_cert_file and self.tls_key_file:
            context = tls.server_context(self.tls_cert_file, self.tls_key_file)
        return Router("127.0.0.1", self.port, tls=context, domain=self.domain)

    def serve_on(self, router: Router) -> str | None:
        """Make a running router serve as this version asks: its certificate and domain; why it cannot, or None.

        The port and the scheme are the router's for as long as it runs (its socket is held).
        """
        if router.port != self.port:
            return f"{self.app} in {self.environment} already listens on port {router.port}, not {self.port}"
        serving = "https" if router.tls is not None else "http"
        if serving != ("https" if self.use_https else "http"):
            return (
                f"{self.app} in {self.environment} is served over {serving} on port {router.port}: "
                "network.use_https changes once nothing of it runs there (uno-deploy down), or on another port"
            )
        if router.tls is not None and self.tls_cert_file and self.tls_key_file:
            tls.load(router.tls, self.tls_cert_file, self.tls_key_file)
        router.domain = self.domain
        return None


def _policy(asked: Any) -> dict[str, Any] | None:
    """The autoscaling policy as the agent keeps it; a malformed one raises, refusing the request."""
    return None if asked is None else scaling.Policy.from_request(asked).as_request()


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


CRASH_LOOP_EXITS = 3
"""Exits in a row, of every replica of a version set none of which is ready, after which it is failing."""


def crash_looping(replicas: Sequence[ReplicaInfo], ready: int) -> bool:
    """Whether every replica exited ``CRASH_LOOP_EXITS`` times in a row and none is ready: waiting longer
    for its health would only watch it restart again (a rollout stops waiting at once)."""
    return bool(replicas) and not ready and all(replica.crashes >= CRASH_LOOP_EXITS for replica in replicas)


def problem(replica: Any) -> str:
    last = replica.last
    if last is None:
        return "not probed yet"
    return last.error or (f"health answered {last.status}" if last.status else "")
