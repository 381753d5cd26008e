"""The local supervisor: version sets (N replicas of one release) as processes on this machine.

Why: the ``local`` platform runs real applications without Docker or a cluster. Each
replica is a process of ours, listening on a private port on 127.0.0.1 that the built-in
router sends traffic to; the supervisor keeps it running and remembers it across restarts
of the agent, so that what the agent reports is what runs.

Files, all under ``state_dir``:
- ``supervisor.json``: the state (see ``state``), rewritten atomically at every change;
- ``supervisor.lock``: held (``flock``) while a supervisor uses the directory;
- ``logs/<version_id>/replica-<index>.log``: each replica's stdout and stderr, appended,
  rotated by size (``.1``, ``.2``, ...; see ``rotating``) every ``log_check_seconds``.

Invariants:
- one supervisor per state directory at a time (the lock); a second one fails at once;
- a replica's environment is the supervisor's base environment, then the version's
  ``env``, then its ``secret_env``, then ``PORT`` (its private port): the port always wins;
- secret values live in memory only. An adopting supervisor reads them back from a
  surviving replica of the same version set (``/proc/<pid>/environ`` of a process it has
  identified by pid and start time, keeping only the recorded secret names); when none
  survives, the version set carries a warning and its restarted replicas run without them;
- every port in use by one of our replicas is distinct;
- ``stop_version``, ``scale_version`` (down) and ``close`` return only when the processes
  they end are gone: SIGTERM to each process group, ``grace`` seconds, then SIGKILL;
- the state file lists exactly the version sets this supervisor runs, with the pid and
  start time of every running replica; a stopped version set is removed from it.

Limits: Linux only (``/proc`` names processes by pid and start time). A program that
leaves its process group or session (``setsid``, daemonizing) escapes supervision.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.platforms.local import cgroups, confinement, processes, rotating
from uno.deployment.adapters.platforms.local.background import BackgroundLoops
from uno.deployment.adapters.platforms.local.confinement import Confinement
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo, RestartPolicy, VersionInfo
from uno.deployment.adapters.platforms.local.restarting import Launch, Replica, Surroundings
from uno.deployment.adapters.platforms.local.rotating import LogPolicy
from uno.deployment.adapters.platforms.local.state import ReplicaRecord, StateError, StateFile, VersionRecord
from uno.deployment.ports.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_GRACE = 10.0
LOCK_FILE = "supervisor.lock"
_VERSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class SupervisorError(Exception):
    """An operation the supervisor cannot carry out as asked (not a bug)."""


class UnknownVersionError(SupervisorError, LookupError):
    pass


class VersionExistsError(SupervisorError):
    pass


class ProcessStartError(SupervisorError):
    """The program of a version set could not be started at all (missing, not executable, bad workdir)."""


@dataclass(eq=False)
class _VersionSet:
    launch: Launch
    replicas: list[Replica] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one scale or stop at a time
    warnings: tuple[str, ...] = ()

    def info(self) -> VersionInfo:
        launch = self.launch
        replicas = tuple(replica.info() for replica in self.replicas)
        return VersionInfo(launch.version_id, launch.argv, dict(launch.env), launch.workdir, replicas, self.warnings)

    def record(self) -> VersionRecord:
        launch = self.launch
        replicas = tuple(replica.record() for replica in self.replicas)
        return VersionRecord(
            launch.version_id,
            launch.argv,
            dict(launch.env),
            launch.workdir,
            replicas,
            launch.secret_names,
            launch.logs,
            launch.confinement,
        )


class Supervisor:
    """Starts, restarts, scales and stops version sets; see the module docstring for the rules."""

    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Clock | None = None,
        base_env: Mapping[str, str] | None = None,
        policy: RestartPolicy | None = None,
        log_check_seconds: float = rotating.CHECK_SECONDS,
        background: BackgroundLoops | None = None,
        offer: confinement.Offer | None = None,
    ) -> None:
        if not processes.proc_available():
            raise SupervisorError("the local supervisor needs Linux's /proc file system")
        self._state_dir = state_dir
        self._state = StateFile(state_dir)
        self._surroundings = Surroundings(
            clock=clock or SystemClock(),
            policy=policy or RestartPolicy(),
            base_env=os.environ if base_env is None else base_env,  # os.environ is read at each start
            on_change=self._persist,
            offer=confinement.probe() if offer is None else offer,  # what confines replicas here
            cgroup_key=confinement.agent_key(state_dir),
        )
        self._versions: dict[str, _VersionSet] = {}
        self._log_check_seconds = log_check_seconds
        self._rotating: asyncio.Task[None] | None = None
        self._background = background  # where the log rotation loop runs, restarted if it fails
        self._lock = _lock_directory(state_dir)
        self._closed = False

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def start_version(
        self,
        version_id: str,
        argv: Sequence[str],
        *,
        replicas: int,
        env: Mapping[str, str],
        workdir: str | None = None,
        secret_env: Mapping[str, str] | None = None,
        logs: LogPolicy | None = None,
        confined: Confinement | None = None,
    ) -> list[ReplicaInfo]:
        """Start ``replicas`` processes of ``argv``, each on its own free port.

        ``env`` is recorded in the state file and must hold no secrets; ``secret_env`` reaches
        the processes but its values are kept in memory only (an adopting supervisor reads
        them back from a surviving replica, see the module docstring). ``logs`` says when
        the replicas' logs are rotated (default: over 10 MiB, 3 old files kept).
        ``confined``: their limits, user and read-only filesystem (``confinement``).

        Raises ``ProcessStartError`` (and starts nothing) when the program cannot be started.
        """
        self._check_open()
        _check_request(version_id, argv, replicas)
        if version_id in self._versions:
            raise VersionExistsError(f"version set {version_id!r} is already running")
        log_dir = self._state_dir / "logs" / version_id
        secrets = dict(secret_env or {})
        launch = Launch(
            version_id,
            tuple(argv),
            dict(env),
            workdir,
            log_dir,
            secret_env=secrets,
            secret_names=tuple(secrets),
            logs=logs or LogPolicy(),
            confinement=confined or Confinement(),
        )
        version = self._versions[version_id] = _VersionSet(launch)
        self._rotate_logs()
        try:
            async with version.lock:
                await self._add_replicas(version, replicas)
        except BaseException:
            await _stop_all(version.replicas, 0.0)
            self._versions.pop(version_id, None)
            self._persist()
            raise
        return self.replicas(version_id)

    async def scale_version(self, version_id: str, replicas: int, *, grace: float = DEFAULT_GRACE) -> list[ReplicaInfo]:
        """Add replicas on new ports, or stop the highest-numbered ones gracefully."""
        self._check_open()
        if replicas < 0:
            raise ValueError("replicas must be >= 0")
        async with self._locked(version_id) as version:
            if replicas > len(version.replicas):
                await self._add_replicas(version, replicas - len(version.replicas))
            elif replicas < len(version.replicas):
                await _stop_all(version.replicas[replicas:], grace)
                del version.replicas[replicas:]
                self._persist()
        return self.replicas(version_id)

    async def stop_version(self, version_id: str, *, grace: float = DEFAULT_GRACE) -> None:
        """Stop every replica (SIGTERM, up to ``grace`` seconds, SIGKILL) and forget the version set."""
        async with self._locked(version_id) as version:
            await _stop_all(version.replicas, grace)
            del self._versions[version_id]
            self._persist()
            if not self._versions:  # nothing may be starting in them now: the agent's cgroups go too
                self._remove_cgroup_parents()

    def versions(self) -> list[VersionInfo]:
        return [version.info() for version in self._versions.values()]

    def version(self, version_id: str) -> VersionInfo:
        return self._version(version_id).info()

    def record(self, version_id: str) -> VersionRecord:
        """What the state file holds of a version set (its launch: no secret value)."""
        return self._version(version_id).record()

    def replicas(self, version_id: str) -> list[ReplicaInfo]:
        return [replica.info() for replica in self._version(version_id).replicas]

    async def adopt(self) -> list[VersionInfo]:
        """Take over the version sets recorded in the state file; call once, before anything else.

        A recorded replica whose process still runs (same pid, same start time, still leading
        its own process group) is supervised as it is; any other is started again on its port,
        with the secrets read back from a surviving replica of its version set (if any).
        """
        self._check_open()
        if self._versions:
            raise SupervisorError("adopt() must come before any version set is started")
        try:
            records = self._state.load()
        except StateError as error:
            raise SupervisorError(f"cannot adopt: {error}") from error
        for record in records.values():
            self._adopt_version(record)
        await self._remove_leftover_cgroups(records.values())
        self._persist()
        self._rotate_logs()
        return self.versions()

    async def close(self, *, grace: float = DEFAULT_GRACE) -> None:
        """Stop every version set and release the state directory. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._rotating is not None:
            self._rotating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rotating
        try:
            async with contextlib.AsyncExitStack() as locks:
                for version in list(self._versions.values()):  # let scaling and stopping under way finish first
                    await locks.enter_async_context(version.lock)
                await _stop_all([replica for version in self._versions.values() for replica in version.replicas], grace)
                self._versions.clear()
                self._persist()
                self._remove_cgroup_parents()
        finally:
            os.close(self._lock)

    def _adopt_version(self, record: VersionRecord) -> None:
        log_dir = self._state_dir / "logs" / record.version_id
        secrets = _recover_secrets(record)  # before any replica restarts, so that none starts without them
        launch = Launch(
            record.version_id,
            record.argv,
            dict(record.env),
            record.workdir,
            log_dir,
            secret_env=secrets,
            secret_names=record.secret_names,
            logs=record.logs,
            confinement=record.confinement,
        )
        version = _VersionSet(launch)
        if launch.missing_secrets:
            version.warnings = (_lost_secrets_warning(record.version_id, launch.missing_secrets),)
            log.warning("%s", version.warnings[0])
        self._versions[record.version_id] = version
        for replica_record in sorted(record.replicas, key=_by_index):
            replica = Replica(version.launch, replica_record.index, replica_record.port, self._surroundings)
            version.replicas.append(replica)
            replica.adopt(replica_record)

    async def _add_replicas(self, version: _VersionSet, count: int) -> None:
        for _ in range(count):
            index = version.replicas[-1].index + 1 if version.replicas else 0
            port = processes.free_port(avoid=set(self._ports()))
            replica = Replica(version.launch, index, port, self._surroundings)
            try:
                await replica.start()
            except OSError as error:
                await replica.stop(0.0)  # what was made for it (its cgroups) goes
                raise ProcessStartError(f"cannot start {version.launch.argv[0]!r}: {error}") from error
            version.replicas.append(replica)
        self._persist()

    async def _remove_leftover_cgroups(self, records: Iterable[VersionRecord]) -> None:
        """Replica cgroups an earlier agent left (it died while removing them): nothing may stay behind."""
        surroundings = self._surroundings
        hierarchies = surroundings.offer.hierarchies if surroundings.offer is not None else []
        keep = {f"{record.version_id}.{replica.index}" for record in records for replica in record.replicas}
        try:
            removed = await cgroups.remove_leftovers(hierarchies, surroundings.cgroup_key, keep)
        except OSError:
            log.exception("could not remove the cgroups an earlier agent left")
            return
        if removed:
            log.warning("removed cgroups left by an earlier agent: %s", ", ".join(removed))

    def _remove_cgroup_parents(self) -> None:
        offer = self._surroundings.offer
        if offer is not None:
            cgroups.remove_parents(offer.hierarchies, self._surroundings.cgroup_key)

    def _rotate_logs(self) -> None:
        if self._rotating is not None:
            return
        if self._background is None:
            logs = rotating.rotate_forever(self._logs, self._log_check_seconds)
            self._rotating = asyncio.create_task(logs, name="log rotation")
        else:
            self._rotating = self._background.start(
                "log rotation", lambda: rotating.rotate_forever(self._logs, self._log_check_seconds)
            )

    def _logs(self) -> list[tuple[Path, LogPolicy]]:
        versions = self._versions.values()
        return [(replica.log_path, version.launch.logs) for version in versions for replica in version.replicas]

    def _ports(self) -> Iterable[int]:
        return (replica.port for version in self._versions.values() for replica in version.replicas)

    @contextlib.asynccontextmanager
    async def _locked(self, version_id: str) -> AsyncIterator[_VersionSet]:
        """The version set with its lock held; ``UnknownVersionError`` if it was stopped while we waited."""
        version = self._version(version_id)
        async with version.lock:
            if self._versions.get(version_id) is not version:
                raise UnknownVersionError(f"no version set {version_id!r}")
            yield version

    def _version(self, version_id: str) -> _VersionSet:
        version = self._versions.get(version_id)
        if version is None:
            raise UnknownVersionError(f"no version set {version_id!r}")
        return version

    def _check_open(self) -> None:
        if self._closed:
            raise SupervisorError("the supervisor is closed")

    def _persist(self) -> None:
        """Write the state; a failure is logged, not raised: the replicas run on, and the next change retries."""
        try:
            self._state.save(version.record() for version in self._versions.values())
        except OSError:
            log.exception("could not write the supervisor state to %s", self._state.path)


def _check_request(version_id: str, argv: Sequence[str], replicas: int) -> None:
    if not _VERSION_ID.fullmatch(version_id):
        raise ValueError(f"version id {version_id!r}: letters, digits, '.', '_' and '-' only, 128 at most")
    if not argv:
        raise ValueError("argv must name a program")
    if replicas < 0:
        raise ValueError("replicas must be >= 0")


def _recover_secrets(record: VersionRecord) -> dict[str, str]:
    """The secret values of a version set, read back from its replicas that outlived the last agent.

    Only the recorded secret names are kept from what a replica's environment shows; the
    rest of it (the base environment, ``env``) is known already or not ours to take.
    """
    found: dict[str, str] = {}
    for replica in record.replicas:
        wanted = [name for name in record.secret_names if name not in found]
        if not wanted or replica.pid is None:
            continue
        environment = processes.read_environ(replica.pid, replica.start_ticks) or {}
        found.update({name: environment[name] for name in wanted if name in environment})
    return found


def _lost_secrets_warning(version_id: str, names: Sequence[str]) -> str:
    return (
        f"{version_id}: secret(s) {', '.join(names)} lost with the previous agent (no surviving replica holds them): "
        "replicas restarted from now on run without them until the next deploy"
    )


def _by_index(record: ReplicaRecord) -> int:
    return record.index


async def _stop_all(replicas: Sequence[Replica], grace: float) -> None:
    """Stop replicas together (one grace period for all); every one is stopped even if one fails."""
    outcomes = await asyncio.gather(*(replica.stop(grace) for replica in replicas), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _lock_directory(state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by replicas
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise SupervisorError(f"another supervisor is using {state_dir}") from None
    return descriptor
