"""The ``local`` platform driver: version sets as processes run by a local agent.

The agent owns the replicas and the routers, so they outlive the process that deployed
them (a CLI call, a notebook). This driver starts it on demand, detached, one per state
directory, under a keeper (``python -m uno.deployment.adapters.platforms.local.keeper``)
that holds the routers' ports and restarts the agent if it dies, and speaks to the agent
over its Unix socket. Secret values are read from the deployer's
environment at deploy time and sent to the agent for the replicas' environment; the
agent keeps them in memory only, never in its state file. With a ``database`` section,
replicas also get ``DATABASE_URL`` (a secret: its password is read from
``database.password_env_var`` here) and ``DATABASE_POOL_MIN`` / ``DATABASE_POOL_MAX``
(``domain.connections``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.local import (
    confinement,
    describing,
    holding,
    honoured,
    loops,
    options,
    processes,
    programs,
    scaling,
    tails,
    tls,
    wire,
)
from uno.deployment.domain import connections
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import (
    Capabilities,
    LiveObject,
    Release,
    TrafficStats,
    VersionHealth,
    VersionSet,
)

CALL_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 600.0
START_TIMEOUT = 15.0
LOG_TAIL_LINES = 6  # lines of a failing replica's log shown with the failure
RESPAWN_SECONDS = 1.0  # a keeper that did not take the directory is started again after this


class LocalDriver:
    name = "local"
    capabilities = Capabilities(traffic_weights=True, traffic_stats=True)

    def __init__(self, state_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        # what this machine offers to confine replicas decides which settings are honoured here
        self.offer = confinement.probe()
        self.declaration = honoured.declaration_for(self.offer)
        self._state_dir = state_dir
        self._environ = os.environ if environ is None else environ
        self._starting = asyncio.Lock()

    @property
    def socket_path(self) -> Path:
        return self._state_dir / "agent.sock"

    def replica_logs(self, version_set: str) -> list[Path]:
        """The log files of a version set's replicas (stdout and stderr), rotated ones left out."""
        if not version_set or "/" in version_set or version_set.startswith("."):
            return []
        return sorted((self._state_dir / "processes" / "logs" / version_set).glob("replica-*.log"))

    def check(self, config: DeploymentConfig) -> Result[None]:
        checked = options.options_for(config)
        return checked if isinstance(checked, Failure) else Success(None)

    def missing_programs(self, config: DeploymentConfig) -> list[str]:
        local = options.options_for(config)
        if isinstance(local, Failure):
            return []  # check says what is wrong with the settings
        path = config.environment_variables.get("PATH") or self._environ.get("PATH") or os.defpath
        missing = programs.missing(local.value.command[0], local.value.workdir, path)
        return [missing] if missing else []

    async def create_version(self, release: Release, replicas: int) -> Result[VersionSet]:
        local = options.options_for(release.config)
        if isinstance(local, Failure):
            return local
        config = release.config
        missing = [name for name in config.secrets if not self._environ.get(name)]
        if missing:
            message = f"secret(s) {', '.join(missing)} not set in the deployer's environment"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"missing": missing}))
        served = await self._certificate(release, local.value)
        if isinstance(served, Failure):
            return served
        database = connections.replica_environment(config.database, self._environ)
        if database is None:
            name = config.database.password_env_var if config.database else None
            message = f"{name} (database.password_env_var) is not set in the deployer's environment"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"missing": [name]}))
        plain, secret = database
        request = {
            "op": "create_version",
            "app": release.app_name,
            "environment": release.environment,
            "version": release.version,
            "deployment_id": release.deployment_id,
            "replicas": replicas,
            "command": list(local.value.command),
            "port": local.value.port,
            "health_path": local.value.health_path,
            "workdir": local.value.workdir,
            "health_interval": local.value.health_interval,
            "health_timeout": local.value.health_timeout,
            "healthy_threshold": local.value.healthy_threshold,
            "unhealthy_threshold": local.value.unhealthy_threshold,
            "log_max_bytes": local.value.log_max_bytes,
            "log_backups": local.value.log_backups,
            "env": {**config.environment_variables, **plain, "APP_VERSION": release.version},
            "secret_env": {**{name: self._environ[name] for name in config.secrets}, **secret},
            "autoscaling": _autoscaling(config, local.value),
            "domain": local.value.domain,
            "use_https": local.value.use_https,
            "tls_cert_file": served.value[0] if served.value else None,
            "tls_key_file": served.value[1] if served.value else None,
            "confinement": confinement.from_config(config, local.value.run_as_user).to_json(),
        }
        return _version(await self._call(request))

    async def _certificate(self, release: Release, local: options.LocalOptions) -> Result[tuple[str, str] | None]:
        """The certificate and key the router serves: those configured, else a self-signed one (``tls``)."""
        if not local.use_https:
            return Success(None)
        if local.tls_cert_file and local.tls_key_file:
            return Success((local.tls_cert_file, local.tls_key_file))
        domain = local.domain or "localhost"
        return await asyncio.to_thread(tls.self_signed, self._state_dir, release.app_name, release.environment, domain)

    async def scale_version(self, version: VersionSet, replicas: int) -> Result[VersionSet]:
        return _version(await self._call({"op": "scale_version", "version_set": version.id, "replicas": replicas}))

    async def set_traffic(self, app_name: str, environment: str, weights: Mapping[str, int]) -> Result[None]:
        request = {"op": "set_traffic", "app": app_name, "environment": environment, "weights": dict(weights)}
        answered = await self._call(request)
        return answered if isinstance(answered, Failure) else Success(None)

    async def version_health(self, version: VersionSet) -> Result[VersionHealth]:
        answered = await self._call({"op": "version_health", "version_set": version.id})
        if isinstance(answered, Failure):
            return answered
        value = answered.value
        failing = bool(value.get("failing", False))
        tail = await asyncio.to_thread(self._log_tail, version.id) if failing else ()
        return Success(
            VersionHealth(int(value["ready"]), int(value["total"]), str(value.get("message", "")), failing, tail)
        )

    def _log_tail(self, version_set: str) -> tuple[str, ...]:
        """The last lines of the first replica's log (the supervisor's own lines say how it exited)."""
        logs = self.replica_logs(version_set)
        return tails.last_lines(logs[0], LOG_TAIL_LINES) if logs else ()

    async def traffic_stats(self, version: VersionSet, *, reset: bool = False) -> Result[TrafficStats]:
        answered = await self._call({"op": "traffic_stats", "version_set": version.id, "reset": reset})
        if isinstance(answered, Failure):
            return answered
        value = answered.value
        return Success(
            TrafficStats(int(value["requests"]), int(value["errors"]), value.get("p50_ms"), value.get("p99_ms"))
        )

    async def destroy_version(self, version: VersionSet, *, drain_timeout: float) -> Result[None]:
        request = {"op": "destroy_version", "version_set": version.id, "drain": drain_timeout}
        answered = await self._call(request, timeout=CALL_TIMEOUT + drain_timeout)
        return answered if isinstance(answered, Failure) else Success(None)

    async def retire_version(self, version: VersionSet, *, after: float, drain_timeout: float) -> Result[None]:
        request = {"op": "retire_version", "version_set": version.id, "after": after, "drain": drain_timeout}
        answered = await self._call(request)
        return answered if isinstance(answered, Failure) else Success(None)

    async def list_versions(self, app_name: str, environment: str) -> Result[list[VersionSet]]:
        answered = await self._call({"op": "list_versions", "app": app_name, "environment": environment})
        if isinstance(answered, Failure):
            return answered
        return Success([_to_version(item) for item in answered.value])

    async def render(self, release: Release) -> Result[dict[str, Any]]:
        local = options.options_for(release.config)
        if isinstance(local, Failure):
            return local
        notes = [
            "the router listens on its port for as long as anything of the application runs; each replica"
            " gets a private PORT behind it",
        ]
        if release.config.secrets or release.config.database:
            notes.append("secret values are read from the deployer's environment at deploy time (never rendered)")
        if release.config.database is not None:
            source = release.config.database.password_env_var or "(none)"
            notes.append(f"DATABASE_URL is built from database.*, its password from ${source}")
        return Success(
            {
                "platform": "local",
                "format": "yaml",
                "objects": describing.wanted(release.config, local.value),
                "notes": notes,
                "confinement_on_this_machine": self.offer.describe(),
            }
        )

    async def live_objects(self, release: Release) -> Result[list[LiveObject]]:
        """The router and processes a deploy would make, beside those the agent runs now (never starting one)."""
        local = options.options_for(release.config)
        if isinstance(local, Failure):
            return local
        request = {"op": "describe_versions", "app": release.app_name, "environment": release.environment}
        answered = await wire.call(self.socket_path, request, timeout=CALL_TIMEOUT)
        if isinstance(answered, Failure):
            if answered.error.code is not ErrorCode.UNAVAILABLE:
                return answered
            recorded = self._state_dir / "processes" / "supervisor.json"
            if await asyncio.to_thread(recorded.is_file):
                message = f"the local agent does not answer on {self.socket_path}, and replicas are recorded"
                return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, message, {"socket": str(self.socket_path)}))
            answered = Success([])  # nothing ever ran here
        serving = max(answered.value, key=lambda item: int(item["weight"]), default=None)
        wanted = describing.wanted(release.config, local.value)
        live = describing.live(serving, str(self._state_dir / "tls")) if serving else [None] * len(wanted)
        secrets = tuple(release.config.secrets)
        note = f"compared with version set {serving['id']} ({serving['version']})" if serving else ""
        return Success(
            [
                LiveObject(
                    item["kind"],
                    item["name"],
                    item["body"],
                    found["body"] if found else None,
                    tuple(f"env.{name}" for name in secrets),
                    note,
                )
                for item, found in zip(wanted, live, strict=True)
            ]
        )

    async def agent_status(self) -> Result[dict[str, Any] | None]:
        """What the agent says of itself (``ping``): pid, loop, keeper, background loops; None when none runs.

        Never starts an agent: it reports what runs (``uno-deploy agent``).
        """
        answered = await wire.call(self.socket_path, {"op": "ping"}, timeout=5)
        if isinstance(answered, Failure):
            return Success(None) if answered.error.code is ErrorCode.UNAVAILABLE else answered
        return Success(dict(answered.value))

    async def shutdown(self) -> Result[None]:
        """Stop the agent and everything it runs (``uno-deploy down``).

        With no live agent but replicas recorded (the agent was killed), an agent is started
        to adopt them, then told to stop them: ``down`` never leaves processes behind.
        """
        answered = await wire.call(self.socket_path, {"op": "shutdown"}, timeout=SHUTDOWN_TIMEOUT)
        if isinstance(answered, Failure) and answered.error.code is ErrorCode.UNAVAILABLE:
            recorded = self._state_dir / "processes" / "supervisor.json"
            if not await asyncio.to_thread(recorded.is_file):
                return Success(None)  # nothing ever ran here
            answered = await self._call({"op": "shutdown"}, timeout=SHUTDOWN_TIMEOUT)
        if isinstance(answered, Failure):
            return answered
        return await self._gone(answered.value.get("pid") if isinstance(answered.value, dict) else None)

    async def _gone(self, agent: int | None) -> Result[None]:
        """Return once the agent has exited and its keeper too: ``down`` means down when it returns."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while await asyncio.to_thread(self._running, agent):
            if loop.time() > deadline:
                message = f"the local agent did not stop within {START_TIMEOUT:g}s"
                return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, message, {}))
            await asyncio.sleep(0.05)
        return Success(None)

    def _kept(self) -> bool:
        return holding.keeper_running(self._state_dir)

    def _running(self, agent: int | None) -> bool:
        exited = agent is None or (stat := processes.read_stat(agent)) is None or stat.gone  # a zombie has exited
        return not exited or self.socket_path.exists() or holding.keeper_running(self._state_dir)

    async def _call(self, request: dict[str, Any], *, timeout: float = CALL_TIMEOUT) -> Result[Any]:
        started = await self._ensure_agent()
        if isinstance(started, Failure):
            return started
        return await wire.call(self.socket_path, request, timeout=timeout)

    async def _ensure_agent(self) -> Result[None]:
        """Make sure an agent answers: wait for the keeper's (it restarts a dead agent), or start a keeper.

        A keeper may be on its way out (its agent was told to stop) when we look; once it is
        gone, a new one is started, at most once a second.
        """
        async with self._starting:
            if isinstance(await wire.call(self.socket_path, {"op": "ping"}, timeout=2), Success):
                return Success(None)
            await asyncio.to_thread(self._state_dir.mkdir, parents=True, exist_ok=True)
            loop = asyncio.get_running_loop()
            deadline, spawned = loop.time() + START_TIMEOUT, -RESPAWN_SECONDS
            while loop.time() < deadline:
                if loop.time() - spawned >= RESPAWN_SECONDS and not await asyncio.to_thread(self._kept):
                    spawned = loop.time()
                    refused = await _spawn_agent(self._state_dir)
                    if refused:
                        message = f"the local agent did not start: {refused}"
                        return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, message, {}))
                if isinstance(await wire.call(self.socket_path, {"op": "ping"}, timeout=2), Success):
                    return Success(None)
                await asyncio.sleep(0.05)
            log = self._state_dir / "agent.log"
            message = f"the local agent did not start within {START_TIMEOUT:g}s (see {log})"
            return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, message, {}))


async def _spawn_agent(state_dir: Path) -> str | None:
    """Start the agent's keeper detached: it forks and its first process exits at once (no zombie, no child).

    Returns why it refused to start (the last line it wrote), or None once it forked.
    """
    argv = [
        sys.executable,
        "-m",
        "uno.deployment.adapters.platforms.local.keeper",
        "--state-dir",
        str(state_dir),
        "--detach",
    ]

    # the agent (and so every replica) starts from a clean environment, not the deployer's
    environment = options.baseline_environment(os.environ, also=("PYTHONPATH", loops.ENVIRONMENT_VARIABLE))

    def start() -> str | None:
        log_path = state_dir / "agent.log"
        with open(log_path, "ab") as log:
            started = log.tell()
            completed = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=30, check=False, env=environment
            )
        if completed.returncode == 0:
            return None
        with open(log_path, "rb") as log:
            log.seek(started)
            lines = log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {completed.returncode} (see {log_path})"

    return await asyncio.to_thread(start)


def _autoscaling(config: DeploymentConfig, local: options.LocalOptions) -> dict[str, Any] | None:
    policy = scaling.policy_for(config, local.autoscale_interval, local.scale_down_stabilization)
    return None if policy is None else policy.as_request()


def _to_version(item: dict[str, Any]) -> VersionSet:
    return VersionSet(
        item["id"],
        item["app"],
        item["environment"],
        item["version"],
        item["deployment_id"],
        int(item["replicas"]),
        int(item["weight"]),
    )


def _version(answered: Result[Any]) -> Result[VersionSet]:
    return answered if isinstance(answered, Failure) else Success(_to_version(answered.value))
