"""The local agent: owns the replicas and the routers of the ``local`` platform.

One agent per state directory, started by the driver on first use under a keeper
(``keeper``: its parent, which holds the routers' listening sockets and starts the next
agent at once if this one dies), so what it runs outlives the process that deployed it.
It answers the driver's requests (one JSON line each, see ``wire``) with the platform
primitives, keeps the routers' backends to the replicas that pass their health checks,
and writes what runs where to ``agent.json`` so that a restarted agent re-adopts the
replicas and routes exactly as they were. ``shutdown`` (``uno-deploy down``) stops
everything it runs, then the agent itself (and so its keeper).

Invariants:
- a version set being removed (``removing``) is left out of the backend sync from the
  start of its removal: its monitor and replicas go one after the other, and the sync
  must neither look for them nor route to them again;
- every loop of the agent runs in ``background``: one that fails is logged, restarted
  with backoff and reported by ``ping``, never left dead;
- a restarted agent's router serves only once its weights and backends are set;
- a version set is resized by one request or by the autoscaler at a time (``_resizing``);
  the autoscaler (``autoscaling``) scales only a version set no rollout is using.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms.local import loops, options, versionsets, wire
from uno.deployment.adapters.platforms.local.autoscaling import Autoscaler
from uno.deployment.adapters.platforms.local.background import BackgroundLoops
from uno.deployment.adapters.platforms.local.confinement import Confinement
from uno.deployment.adapters.platforms.local.health import HealthMonitor
from uno.deployment.adapters.platforms.local.holding import Holding
from uno.deployment.adapters.platforms.local.routing import Router
from uno.deployment.adapters.platforms.local.supervising import Supervisor, SupervisorError
from uno.deployment.adapters.platforms.local.versionsets import VersionMeta

SYNC_SECONDS = 0.25
LEAVE_GRACE_SECONDS = 1.0


class Agent:
    def __init__(
        self,
        state_dir: Path,
        loop: str = "asyncio",
        holding: Holding | None = None,
        keeper: dict[str, Any] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.loop = loop  # which event loop runs the agent (``loops``), reported by ping
        self.holding = holding or Holding()  # the listening sockets a keeper holds for us, if one does
        self.keeper = keeper  # the keeper's pid, how often it restarted an agent and why the last one ended
        # replicas get what their configuration names, not whatever the deployer's shell held
        self.background = BackgroundLoops()  # every loop of the agent: restarted if it fails, reported by ping
        self.supervisor = Supervisor(
            state_dir / "processes", base_env=options.baseline_environment(os.environ), background=self.background
        )
        self.monitors: dict[str, HealthMonitor] = {}  # one per version set: each has its own timings
        self.retirements: dict[str, asyncio.TimerHandle] = {}
        self.leaving: dict[str, set[int]] = {}  # ports of replicas being scaled away: routed no more
        self.versions: dict[str, VersionMeta] = {}
        self.removing: set[str] = set()  # version sets being destroyed: no longer synced, their parts going
        self.sync_rounds = 0
        self.autoscaler = Autoscaler(self, resize=self._resize, persist=self._persist, say=_say)
        self._resizing: dict[str, asyncio.Lock] = {}  # one resize of a version set at a time (deploy or autoscaler)
        self.routers: dict[tuple[str, str], Router] = {}
        self.weights: dict[tuple[str, str], dict[str, int]] = {}
        self.stopped = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._serial = 0

    @property
    def state_file(self) -> Path:
        return self.state_dir / "agent.json"

    async def serve(self) -> None:
        await self._restore()
        socket_path = self.state_dir / "agent.sock"
        socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._handle, path=str(socket_path), limit=wire.MAX_MESSAGE)
        self.start_background()
        try:
            await self.stopped.wait()
        finally:
            self._server.close()
            await self._server.wait_closed()
            socket_path.unlink(missing_ok=True)

    def start_background(self) -> None:
        """Start the loops that keep the routers' backends to the healthy replicas, and that autoscale."""
        self.background.start("backend sync", self._sync_forever)
        self.background.start("autoscaler", self.autoscaler.run_forever)

    async def close(self) -> None:
        """Stop the loops, the health probes and the routers; the replicas run on (for the next agent)."""
        await self.background.close()
        for monitor in self.monitors.values():
            await monitor.close()
        for router in self.routers.values():
            await router.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            result = await self._dispatch(request)
        except Exception as error:  # one bad request must not take the agent down
            result = Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, f"the local agent failed: {error}", {}))
        writer.write(wire.encode(wire.answer(result)))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _dispatch(self, request: dict[str, Any]) -> Result[Any]:
        operations: dict[str, Callable[[dict[str, Any]], Awaitable[Result[Any]]]] = {
            "ping": self._ping,
            "create_version": self._create,
            "scale_version": self._scale,
            "set_traffic": self._set_traffic,
            "version_health": self._health,
            "traffic_stats": self._stats,
            "destroy_version": self._destroy,
            "retire_version": self._retire,
            "list_versions": self._list,
            "describe_versions": self._describe_versions,
            "shutdown": self._shutdown,
        }
        operation = operations.get(str(request.get("op")))
        if operation is None:
            return Failure(ErrorDetails.validation("op", f"unknown operation {request.get('op')!r}"))
        return await operation(request)

    async def _ping(self, _: dict[str, Any]) -> Result[Any]:
        background = [asdict(report) for report in self.background.report()]
        # a keeper killed meanwhile is no parent of ours any more (we were handed to init)
        kept = self.keeper is not None and self.holding.kept and os.getppid() == self.keeper.get("pid")
        keeper = self.keeper if kept else None
        autoscaling = [self._describe(meta) for meta in self.versions.values() if meta.autoscaling is not None]
        answer = {"pid": os.getpid(), "loop": self.loop, "background": background, "keeper": keeper}
        return Success({**answer, "autoscaling": autoscaling})

    async def _create(self, request: dict[str, Any]) -> Result[Any]:
        self._serial += 1
        meta = VersionMeta.from_request(
            request, f"{request['app']}-{request['environment']}-{request['version']}-{os.urandom(3).hex()}"
        )
        version_id = meta.id
        router = await self._router(meta)
        if isinstance(router, Failure):
            return router
        try:
            await self.supervisor.start_version(
                version_id,
                request["command"],
                replicas=int(request["replicas"]),
                env=request["env"],
                secret_env=request.get("secret_env", {}),
                workdir=request.get("workdir"),
                logs=versionsets.log_policy(request),
                confined=Confinement.from_json(request.get("confinement")),
            )
        except SupervisorError as error:
            await self._close_idle_router((meta.app, meta.environment))  # nothing of the app runs: free its port
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, str(error), {}))
        self.versions[version_id] = meta
        self._watch(meta)
        self._persist()
        return Success(self._describe(meta))

    async def _router(self, meta: VersionMeta) -> Result[Router]:
        key = (meta.app, meta.environment)
        router = self.routers.get(key)
        try:
            refused = meta.serve_on(router) if router is not None else None
            router = router or meta.router()
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError; tls.EncryptedKey a ValueError
            message = f"cannot serve {meta.tls_cert_file} with {meta.tls_key_file}: {error}"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"field": "network.use_https"}))
        if refused:
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, refused, {}))
        if router.serving:
            return Success(router)
        try:
            await router.start(self.holding.socket_for("127.0.0.1", meta.port))
        except OSError as error:
            message = f"cannot listen on 127.0.0.1:{meta.port}: {error.strerror or error}"
            return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {}))
        self.routers[key] = router
        return Success(router)

    async def _scale(self, request: dict[str, Any]) -> Result[Any]:
        meta = self.versions.get(request["version_set"])
        if meta is None:
            return versionsets.unknown(request["version_set"])
        await self._resize(meta, int(request["replicas"]))
        self._persist()
        return Success(self._describe(meta))

    async def _resize(self, meta: VersionMeta, wanted: int) -> None:
        async with self._resizing.setdefault(meta.id, asyncio.Lock()):
            current = self.supervisor.replicas(meta.id)
            if wanted < len(current):  # take the leaving replicas out of the routes before stopping them
                self.leaving[meta.id] = {replica.port for replica in current[wanted:]}
                self._sync_backends()
                await asyncio.sleep(LEAVE_GRACE_SECONDS)  # requests already sent to them finish
            try:
                await self.supervisor.scale_version(meta.id, wanted)
            finally:
                self.leaving.pop(meta.id, None)

    async def _set_traffic(self, request: dict[str, Any]) -> Result[Any]:
        key = (request["app"], request["environment"])
        weights = {str(name): int(weight) for name, weight in request["weights"].items()}
        for name in weights:
            if name not in self.versions:
                return versionsets.unknown(name)
        router = self.routers.get(key)
        if router is None:
            return Failure(ErrorDetails(ErrorCode.INVALID_STATE, f"nothing of {key[0]} runs in {key[1]}", {}))
        self._sync_backends()
        router.set_weights(weights)
        self.weights[key] = weights
        for name, weight in weights.items():
            if weight > 0:  # traffic came back (a rollback): the version is no longer retiring
                self._cancel_retirement(name)
        self._persist()
        return Success(None)

    async def _health(self, request: dict[str, Any]) -> Result[Any]:
        meta = self.versions.get(request["version_set"])
        if meta is None:
            return versionsets.unknown(request["version_set"])
        running = {(replica.port, replica.pid) for replica in self.supervisor.replicas(meta.id)}
        monitor = self.monitors.get(meta.id)  # gone while the version set is being removed
        health = monitor.health(meta.id) if monitor is not None else []
        probed = [replica for replica in health if (replica.port, replica.pid) in running]
        ready = sum(replica.ready for replica in probed)  # a replica not probed yet is not ready
        problems = sorted({versionsets.problem(replica) for replica in probed if not replica.ready} - {""})
        if len(probed) < len(running):
            problems.append(f"{len(running) - len(probed)} replica(s) not probed yet")
        problems.extend(versionsets.exits(self.supervisor.replicas(meta.id)))
        problems.extend(self.supervisor.version(meta.id).warnings)
        problems.extend(  # a loop that is down now: the routes or the probes may be stale until it is back
            f"the agent's {loop.name} loop failed ({loop.last_error}); restarting it"
            for loop in self.background.report()
            if loop.state == "restarting"
        )
        failing = versionsets.crash_looping(self.supervisor.replicas(meta.id), ready)
        return Success({"ready": ready, "total": len(running), "message": "; ".join(problems), "failing": failing})

    async def _stats(self, request: dict[str, Any]) -> Result[Any]:
        meta = self.versions.get(request["version_set"])
        if meta is None:
            return versionsets.unknown(request["version_set"])
        router = self.routers[(meta.app, meta.environment)]
        stats = router.stats(meta.id)
        if request.get("reset"):
            router.reset_stats(meta.id)
        return Success(
            {"requests": stats.requests, "errors": stats.errors, "p50_ms": stats.p50_ms, "p99_ms": stats.p99_ms}
        )

    async def _destroy(self, request: dict[str, Any]) -> Result[Any]:
        meta = self.versions.get(request["version_set"])
        if meta is None or meta.id in self.removing:
            return Success(None)  # already gone (or going): destroying is idempotent
        self.removing.add(meta.id)  # before any part goes: the backend sync must not look for them
        try:
            await self._take_apart(meta, float(request.get("drain", 30.0)))
        finally:
            self.removing.discard(meta.id)
        return Success(None)

    async def _take_apart(self, meta: VersionMeta, drain: float) -> None:
        key = (meta.app, meta.environment)
        router = self.routers.get(key)
        if router is not None:
            await router.drain(meta.id, drain)
            router.set_backends(meta.id, [])
        monitor = self.monitors.pop(meta.id, None)
        if monitor is not None:
            await monitor.close()
        with contextlib.suppress(SupervisorError):
            await self.supervisor.stop_version(meta.id)
        del self.versions[meta.id]
        self._resizing.pop(meta.id, None)
        self.weights[key] = {name: weight for name, weight in self.weights.get(key, {}).items() if name != meta.id}
        await self._close_idle_router(key)
        self._persist()

    async def _retire(self, request: dict[str, Any]) -> Result[Any]:
        meta = self.versions.get(request["version_set"])
        if meta is None:
            return versionsets.unknown(request["version_set"])
        meta.retire_at = time.time() + float(request["after"])
        self._schedule_retirement(meta, float(request.get("drain", 30.0)))
        self._persist()
        return Success(None)

    def _schedule_retirement(self, meta: VersionMeta, drain: float) -> None:
        self._cancel_retirement(meta.id, keep_record=True)
        delay = max(0.0, (meta.retire_at or 0.0) - time.time())

        def due() -> None:
            self.retirements.pop(meta.id, None)
            weight = self.weights.get((meta.app, meta.environment), {}).get(meta.id, 0)
            if meta.id in self.versions and weight == 0:
                removal = asyncio.ensure_future(self._destroy({"version_set": meta.id, "drain": drain}))
                self._background.add(removal)
                removal.add_done_callback(self._background.discard)

        self.retirements[meta.id] = asyncio.get_running_loop().call_later(delay, due)

    def _cancel_retirement(self, version_id: str, *, keep_record: bool = False) -> None:
        handle = self.retirements.pop(version_id, None)
        if handle is not None:
            handle.cancel()
        meta = self.versions.get(version_id)
        if meta is not None and not keep_record:
            meta.retire_at = None

    async def _close_idle_router(self, key: tuple[str, str]) -> None:
        if any((meta.app, meta.environment) == key for meta in self.versions.values()):
            return
        router = self.routers.pop(key, None)
        self.weights.pop(key, None)
        if router is not None:
            await router.stop()
            self.holding.release(router.port)

    async def _list(self, request: dict[str, Any]) -> Result[Any]:
        key = (request["app"], request["environment"])
        return Success([self._describe(meta) for meta in self.versions.values() if (meta.app, meta.environment) == key])

    async def _describe_versions(self, request: dict[str, Any]) -> Result[Any]:
        """Everything an application's version sets run with (``diff``): secret names, never their values."""
        key = (request["app"], request["environment"])
        return Success([self._full(meta) for meta in self.versions.values() if (meta.app, meta.environment) == key])

    def _full(self, meta: VersionMeta) -> dict[str, Any]:
        record = self.supervisor.record(meta.id)
        health = {
            "interval": meta.health_interval,
            "timeout": meta.health_timeout,
            "healthy_threshold": meta.healthy_threshold,
            "unhealthy_threshold": meta.unhealthy_threshold,
        }
        return {
            **self._describe(meta),
            "argv": list(record.argv),
            "env": dict(record.env),
            "workdir": record.workdir,
            "secret_names": list(record.secret_names),
            "logs": {"max_bytes": record.logs.max_bytes, "backups": record.logs.backups},
            "confinement": record.confinement.to_json(),
            "port": meta.port,
            "health_path": meta.health_path,
            "health": health,
            "domain": meta.domain,
            "use_https": meta.use_https,
            "tls_cert_file": meta.tls_cert_file,
            "autoscaling_policy": meta.autoscaling,
        }

    async def _shutdown(self, _: dict[str, Any]) -> Result[Any]:
        for version_id in list(self.versions):
            await self._destroy({"version_set": version_id, "drain": 5.0})
        await self.supervisor.close()
        self.stopped.set()
        return Success({"pid": os.getpid()})  # the driver waits for this process to end

    def _watch(self, meta: VersionMeta) -> None:
        monitor = HealthMonitor(
            self.supervisor,
            background=self.background,
            path=meta.health_path,
            interval=meta.health_interval,
            timeout=meta.health_timeout,
            healthy_threshold=meta.healthy_threshold,
            unhealthy_threshold=meta.unhealthy_threshold,
            on_change=self._sync_backends,  # the router follows readiness at once, not at the next sync
        )
        monitor.watch(meta.id)
        self.monitors[meta.id] = monitor

    def _describe(self, meta: VersionMeta) -> dict[str, Any]:
        weight = self.weights.get((meta.app, meta.environment), {}).get(meta.id, 0)
        replicas = len(self.supervisor.replicas(meta.id))
        return {
            "id": meta.id,
            "app": meta.app,
            "environment": meta.environment,
            "version": meta.version,
            "deployment_id": meta.deployment_id,
            "replicas": replicas,
            "weight": weight,
            "warnings": list(self.supervisor.version(meta.id).warnings),
            "autoscaling": self.autoscaler.report(meta),
        }

    def _sync_backends(self) -> None:
        """Route to healthy replicas only; a version with none healthy keeps all (errors show in its stats)."""
        for meta in self.versions.values():
            router = self.routers.get((meta.app, meta.environment))
            if router is None or meta.id in self.removing:  # its monitor and replicas may be gone already
                continue
            leaving = self.leaving.get(meta.id, set())
            # only replicas the supervisor runs now: a stopped one may still look healthy to the monitor
            staying = {
                (replica.port, replica.pid)
                for replica in self.supervisor.replicas(meta.id)
                if replica.port not in leaving and replica.pid is not None
            }
            health = self.monitors[meta.id].health(meta.id)
            healthy = sorted(
                replica.port for replica in health if replica.ready and (replica.port, replica.pid) in staying
            )
            ports = healthy or sorted(port for port, _ in staying)
            router.set_backends(meta.id, [("127.0.0.1", port) for port in ports])

    async def _sync_forever(self) -> None:
        while True:
            self._sync_backends()
            self.sync_rounds += 1
            await asyncio.sleep(SYNC_SECONDS)

    def _persist(self) -> None:
        state = {
            "versions": [asdict(meta) for meta in self.versions.values()],
            "routes": [
                {"app": app, "environment": env, "weights": weights} for (app, env), weights in self.weights.items()
            ],
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1))
        os.replace(temporary, self.state_file)

    async def _restore(self) -> None:
        """Adopt the replicas and route as before; a router serves only once its routes are set.

        Serving earlier answered 502 to the connections that had queued on the keeper's socket
        while no agent ran: the first requests came before the weights did.
        """
        await self.supervisor.adopt()
        state = json.loads(self.state_file.read_text()) if self.state_file.is_file() else {}
        running = {info.version_id for info in self.supervisor.versions()}
        for item in state.get("versions", []):
            meta = VersionMeta(**item)
            if meta.id not in running:
                continue
            self.versions[meta.id] = meta
            self._watch(meta)
            if (meta.app, meta.environment) not in self.routers:
                try:
                    self.routers[(meta.app, meta.environment)] = meta.router()
                except (OSError, ValueError) as error:  # its certificate went: say so, serve the others
                    print(f"cannot serve {meta.app} in {meta.environment} over TLS: {error}", file=sys.stderr)
            if meta.retire_at is not None:
                self._schedule_retirement(meta, 5.0)
        for route in state.get("routes", []):
            key = (route["app"], route["environment"])
            if key in self.routers:
                self.weights[key] = {name: weight for name, weight in route["weights"].items() if name in self.versions}
                self.routers[key].set_weights(self.weights[key])
        self._sync_backends()
        for key, router in list(self.routers.items()):
            try:
                await router.start(self.holding.socket_for(router.host, router.port))
            except OSError as error:  # its port was taken meanwhile: the app is unreachable, say so
                print(f"cannot listen on 127.0.0.1:{router.port} for {key[0]} in {key[1]}: {error}", file=sys.stderr)
                del self.routers[key]
        self.holding.release_unclaimed()  # ports of applications no longer recorded


def _say(line: str) -> None:
    """A line in ``agent.log`` (the agent's standard error), stamped."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}", file=sys.stderr, flush=True)


def started(description: str, argv: list[str] | None) -> tuple[Path, str]:
    """A local platform process's start (the agent's or its keeper's): its state directory and event loop.

    ``--detach`` forks into the background (its own session) and the first process returns
    at once; a bad ``UNO_DEPLOY_LOCAL_LOOP`` is said before forking, so the one who started
    it sees why no agent runs.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--detach", action="store_true", help="fork into the background and return at once")
    arguments = parser.parse_args(argv)
    try:
        loop = loops.chosen()
    except ValueError as error:
        print(f"local agent not started: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if arguments.detach and os.fork() > 0:
        os._exit(0)  # the first process returns at once; the fork carries on
    if arguments.detach:
        os.setsid()
    arguments.state_dir.mkdir(parents=True, exist_ok=True)
    return arguments.state_dir, loop


def main(argv: list[str] | None = None) -> None:
    state_dir, loop = started("The uno-deploy local agent (started by the local driver).", argv)
    loops.run(_run(state_dir, loop), loop)


def run_kept(
    state_dir: Path, loop: str, channel: socket.socket, held: dict[int, socket.socket], keeper: dict[str, Any]
) -> int:
    """Run an agent forked by its keeper (``keeper``), serving the sockets it held; the exit status."""
    loops.run(_run(state_dir, loop, Holding(channel, held), keeper), loop)
    return 0


async def _run(state_dir: Path, loop_name: str, holding: Holding | None = None, keeper: Any = None) -> None:
    agent = Agent(state_dir, loop_name, holding, keeper)
    print(f"local agent {os.getpid()} serving {state_dir} on {loop_name}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stopped.set)  # stop serving; replicas keep running for the next agent
    await agent.serve()
    await agent.close()
    print("local agent stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
