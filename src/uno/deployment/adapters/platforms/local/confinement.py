"""What confines a replica on this machine: memory and CPU limits, its user, a read-only filesystem.

Why per machine: the same configuration meets a root agent on a cgroup v1 host in CI, a
developer's laptop with systemd's cgroup v2 delegation, or an unprivileged account with no
writable cgroup at all. ``probe`` says what this machine offers (``Offer``); the driver
declares from it which settings it honours here (``honoured.declaration_for``), so what
cannot be applied is reported, and refused under strict, before anything starts.

- memory (``memory_max``, ``memory_min``): a cgroup (v2, else v1, see ``cgroups``), else
  ``RLIMIT_AS`` for ``memory_max`` only (an address-space cap: allocations above it fail);
- CPU (``cpu_max``, ``cpu_min``): a cgroup, else nothing (``nice`` caps nothing: reported);
- ``run_as_non_root``: a root agent starts replicas as ``custom_settings.run_as_user``
  (default ``nobody``); an agent that is not root already runs them unprivileged;
- ``read_only_root_filesystem``: a private mount namespace (root, or an unprivileged user
  namespace) where every mount is read-only but a fresh tmpfs on ``/tmp``, ``/dev``, ``/proc``.

Only what a configuration asks for (``settings_catalogue.active``: written by its author,
or switched on) is applied: the defaults every configuration carries limit nothing.
A replica that asks for nothing starts as before, without the ``confining`` helper.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import pwd
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from uno.deployment.adapters.platforms.local import cgroups, processes
from uno.deployment.adapters.platforms.local.cgroups import Hierarchy, Limits, ReplicaCgroups
from uno.deployment.domain import quantities, settings_catalogue
from uno.deployment.domain.configs import DeploymentConfig

HELPER = Path(__file__).with_name("confining.py")
DEFAULT_USER = "nobody"
RLIMIT = "RLIMIT_AS"
_MEMORY_ERRORS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")
_LOG_TAIL = 64 * 1024  # how much of a replica's last output is searched for a failed allocation


@dataclass(frozen=True, slots=True)
class Offer:
    """What this machine lets the agent do to confine replicas."""

    memory: Hierarchy | None  # None: RLIMIT_AS for memory_max, nothing for memory_min
    cpu: Hierarchy | None  # None: no CPU limit at all
    root: bool
    private_mounts: bool  # a private mount namespace can be made (read_only_root_filesystem)

    @property
    def hierarchies(self) -> list[Hierarchy]:
        return [hierarchy for hierarchy in (self.memory, self.cpu) if hierarchy is not None]

    def describe(self) -> dict[str, str]:
        """In words, for ``plan`` and the docs: which mechanism applies to which setting here."""
        memory = self.memory
        if memory is None:
            limits = f"memory: {RLIMIT} (memory_max only; no cgroup is writable here)"
        elif memory.version == 2:
            limits = "memory: cgroup v2 (memory.max, memory.swap.max, memory.min)"
        else:
            limits = (
                "memory: cgroup v1 (memory.limit_in_bytes, memory.memsw.limit_in_bytes, memory.soft_limit_in_bytes)"
            )
        cpu = self.cpu
        if cpu is None:
            cpu_text = "CPU: not limited (no writable cgroup for the cpu controller)"
        elif cpu.version == 2:
            cpu_text = "CPU: cgroup v2 (cpu.max, cpu.weight)"
        else:
            cpu_text = "CPU: cgroup v1 (cpu.cfs_quota_us/cpu.cfs_period_us, cpu.shares)"
        mounts = "a private mount namespace, mounts read-only" if self.private_mounts else "not available"
        return {
            "limits": f"{limits}; {cpu_text}",
            "user": "setuid to custom_settings.run_as_user"
            if self.root
            else f"the agent's own user (uid {os.getuid()})",
            "read_only_root_filesystem": mounts,
        }


def probe() -> Offer:
    """What this machine offers now; reads ``/proc`` and ``/sys`` only, changes nothing."""
    root = os.geteuid() == 0
    return Offer(cgroups.find("memory"), cgroups.find("cpu"), root, root or _user_namespaces())


def _user_namespaces() -> bool:
    for path, refused in (
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/user/max_user_namespaces", "0"),
    ):
        try:
            if Path(path).read_text().strip() == refused:
                return False
        except OSError:
            continue
    return Path("/proc/self/ns/user").exists()


@dataclass(frozen=True, slots=True)
class Confinement:
    """What a version set's configuration asks of its replicas (nothing asked: all None/False)."""

    memory_max: int | None = None  # bytes
    memory_min: int | None = None
    cpu_max: int | None = None  # millicores
    cpu_min: int | None = None
    user: str | None = None  # run as this user when the agent is root
    read_only: bool = False

    @property
    def empty(self) -> bool:
        return self == Confinement()

    def to_json(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value not in (None, False)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Confinement:
        data = data or {}
        numbers = {name: _optional_int(data.get(name)) for name in ("memory_max", "memory_min", "cpu_max", "cpu_min")}
        user = data.get("user")
        return cls(**numbers, user=str(user) if user else None, read_only=bool(data.get("read_only", False)))

    @property
    def limits(self) -> Limits:
        return Limits(self.memory_max, self.memory_min, self.cpu_max, self.cpu_min)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def from_config(config: DeploymentConfig, run_as_user: str) -> Confinement:
    """The confinement ``config`` asks for: only the settings it names (``settings_catalogue.active``)."""
    asked, resources = set(settings_catalogue.active(config)), config.resources

    def memory(name: str) -> int | None:
        return int(quantities.parse_memory(getattr(resources, name))) if f"resources.{name}" in asked else None

    def cpu(name: str) -> int | None:
        return int(quantities.parse_cpu(getattr(resources, name)) * 1000) if f"resources.{name}" in asked else None

    return Confinement(
        memory("memory_max"),
        memory("memory_min"),
        cpu("cpu_max"),
        cpu("cpu_min"),
        run_as_user if "security.run_as_non_root" in asked else None,
        "security.read_only_root_filesystem" in asked,
    )


def agent_key(state_dir: Path) -> str:
    """Names an agent's cgroups after its state directory: two agents never touch each other's."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


class ReplicaConfiner:
    """One replica's confinement: its cgroups, the helper's instructions, and why it died if memory did it."""

    def __init__(self, confinement: Confinement, offer: Offer, key: str, name: str) -> None:
        self.confinement, self._offer = confinement, offer
        limits = confinement.limits
        wanted = [offer.memory] if limits.memory_max is not None or limits.memory_min is not None else []
        wanted += [offer.cpu] if limits.cpu_max is not None or limits.cpu_min is not None else []
        self.cgroups = ReplicaCgroups([hierarchy for hierarchy in wanted if hierarchy is not None], key, name)
        self._oom_kills = self.cgroups.oom_kills()  # kills before this agent (adopted replicas) are not news
        self._log_offset = 0

    def spec(self) -> dict[str, Any]:
        """Make the cgroups (raises OSError) and say what the helper does before ``exec``."""
        wanted = self.confinement
        spec: dict[str, Any] = {"cgroups": self.cgroups.create(wanted.limits), "read_only": wanted.read_only}
        self._oom_kills = self.cgroups.oom_kills()
        if wanted.memory_max is not None and self._offer.memory is None:
            spec["address_space"] = wanted.memory_max
        if wanted.user is not None and os.geteuid() == 0:
            spec.update(_identity(wanted.user))
        return spec

    def over_memory(self, returncode: int | None, log_path: Path) -> str | None:
        """Why the process that just exited went over its memory limit, or None if it did not (as far as seen)."""
        limit = self.confinement.memory_max
        if limit is None:
            return None
        if self._offer.memory is not None:
            kills = self.cgroups.oom_kills()
            if kills > self._oom_kills:
                self._oom_kills = kills
                label = self._offer.memory.label
                return f"it exceeded its memory limit ({_mib(limit)}, {label}): killed by the kernel's OOM killer"
            return None
        if returncode is not None and returncode != 0 and _failed_allocation(log_path, self._log_offset):
            return f"it exceeded its memory limit ({_mib(limit)}, {RLIMIT}): an allocation failed"
        return None

    def mark_log(self, log_path: Path) -> None:
        """Where this run's output starts: only it is searched for a failed allocation."""
        try:
            self._log_offset = log_path.stat().st_size
        except OSError:
            self._log_offset = 0

    async def release(self) -> None:
        await self.cgroups.remove()


def _identity(user: str) -> dict[str, Any]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise OSError(errno.EINVAL, f"no user {user!r} on this machine (custom_settings.run_as_user)", user) from None
    groups = os.getgrouplist(user, entry.pw_gid)
    return {"user": user, "uid": entry.pw_uid, "gid": entry.pw_gid, "groups": groups}


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def _failed_allocation(log_path: Path, offset: int) -> bool:
    try:
        with log_path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _LOG_TAIL))
            tail = log.read().decode(errors="replace")
    except OSError:
        return False
    return any(sign in tail for sign in _MEMORY_ERRORS)


async def spawn(
    argv: Sequence[str], spec: dict[str, Any], *, env: Mapping[str, str], cwd: str | None, log_path: Path
) -> asyncio.subprocess.Process:
    """Start ``argv`` through the ``confining`` helper; raises the OSError the helper met before ``exec``."""
    reading, writing = os.pipe2(os.O_CLOEXEC)
    helper = [sys.executable, "-I", "-S", str(HELPER), str(writing), json.dumps(spec), *argv]
    try:
        process = await processes.spawn(helper, env=env, cwd=cwd, log_path=log_path, pass_fds=(writing,))
    except BaseException:
        os.close(reading)
        raise
    finally:
        os.close(writing)
    try:
        report = await _read_to_end(reading)
    finally:
        os.close(reading)
    if report:
        await process.wait()
        number, message, culprit = [*report.decode(errors="replace").split("\0"), "", ""][:3]
        raise OSError(int(number or 0) or errno.EPERM, message, culprit or argv[0])
    return process


async def _read_to_end(descriptor: int) -> bytes:
    """Everything written to the pipe until the helper's ``exec`` (or exit) closes it, without blocking the loop."""
    os.set_blocking(descriptor, False)
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    closed: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(descriptor, 4096)
        except BlockingIOError:
            return
        if chunk:
            chunks.append(chunk)
        elif not closed.done():
            closed.set_result(None)

    loop.add_reader(descriptor, readable)
    try:
        await closed
    finally:
        loop.remove_reader(descriptor)
    return b"".join(chunks)
