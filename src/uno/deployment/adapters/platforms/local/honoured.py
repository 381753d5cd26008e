"""What the ``local`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against the driver and the agent: replicas are processes on this machine behind
the router, with the configuration's environment and secrets; the router serves plain
HTTP on ``custom_settings.port`` only.

Limits, the replicas' user and a read-only filesystem depend on what the machine offers
(``confinement.Offer``): ``declaration_for`` answers for one machine (the driver's, computed
when it is made), ``DECLARATION`` for the docs, naming each mechanism and its fallback.
"""

from __future__ import annotations

from dataclasses import replace

from uno.deployment.adapters.platforms.local.confinement import Offer
from uno.deployment.ports.platforms import SettingsDeclaration, Support, honoured, not_honoured

_KILLED = "a replica above it is killed, and its health and the deploy say it exceeded its memory limit"
_MEMORY_MAX = {
    2: honoured(f"cgroup v2 memory.max (and memory.swap.max 0) of the replica's own cgroup: {_KILLED}"),
    1: honoured(f"cgroup v1 memory.limit_in_bytes (and memsw) of the replica's own cgroup: {_KILLED}"),
    0: honoured(
        "RLIMIT_AS (no writable cgroup here): an allocation above it fails, and a replica that exits of it "
        "is reported as over its memory limit"
    ),
}
_MEMORY_MIN = {
    2: honoured("cgroup v2 memory.min: this much of the replica's memory is never reclaimed"),
    1: honoured("cgroup v1 memory.soft_limit_in_bytes: under memory pressure, reclaimed no lower than this first"),
    0: not_honoured("no writable cgroup on this machine: nothing reserves memory for a replica"),
}
_CPU_MAX = {
    2: honoured("cgroup v2 cpu.max: at most this much CPU time per 100 ms period, for the replica and its children"),
    1: honoured("cgroup v1 cpu.cfs_quota_us per 100 ms cpu.cfs_period_us, for the replica and its children"),
    0: not_honoured("no writable cgroup for the cpu controller on this machine: nothing caps a replica's CPU"),
}
_CPU_MIN = {
    2: honoured("cgroup v2 cpu.weight (from 1024 shares per CPU): its share of CPU when CPUs are busy"),
    1: honoured("cgroup v1 cpu.shares (1024 per CPU): its share of CPU when CPUs are busy"),
    0: not_honoured("no writable cgroup for the cpu controller on this machine: nothing weighs a replica's CPU"),
}
_AS_USER = honoured(
    "a root agent starts replicas as custom_settings.run_as_user (default nobody: setgroups, setgid, setuid "
    "before exec); an agent that is not root runs them as its own user"
)
_READ_ONLY = honoured(
    "each replica runs in its own mount namespace where every mount is read-only, but a private tmpfs "
    "on /tmp, /dev and /proc"
)
_NO_PRIVATE_MOUNTS = not_honoured(
    "no private mount namespace here (not root, no unprivileged user namespaces): replicas write wherever "
    "their user may"
)
_NO_SCALING = "replicas stay at replicas_min: nothing scales them"
_NO_MONITORING = "replica logs are kept; no metrics, tracing or alerting is set up"
_NO_POOL = "nothing passes pool sizes to the application; set them in its own settings"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": honoured("cgroup v2 cpu.weight, else v1 cpu.shares; where no cgroup is writable, reported"),
    "resources.cpu_max": honoured("cgroup v2 cpu.max, else v1 cpu.cfs_quota_us; where no cgroup is writable, reported"),
    "resources.memory_min": honoured(
        "cgroup v2 memory.min, else v1 memory.soft_limit_in_bytes; where no cgroup is writable, reported"
    ),
    "resources.memory_max": honoured(
        "cgroup v2 memory.max, else v1 memory.limit_in_bytes, else RLIMIT_AS; a replica over it is killed "
        "(or fails to allocate) and reported as over its memory limit"
    ),
    "resources.replicas_min": honoured("this many processes per version, behind the router"),
    "resources.replicas_max": not_honoured(_NO_SCALING),
    "resources.auto_scaling": not_honoured(_NO_SCALING),
    "resources.auto_scaling_cpu_threshold": not_honoured(_NO_SCALING),
    "network.domain": not_honoured("the router listens on this machine's custom_settings.port; no host is served"),
    "network.use_https": not_honoured("the router serves plain HTTP: no certificate, no TLS"),
    "network.port": not_honoured("the router listens on custom_settings.port; replicas get their own PORT"),
    "network.health_check_path": not_honoured("replicas are probed at custom_settings.health_path (default /healthz)"),
    "security.enable_network_policy": not_honoured("processes are not isolated from the network"),
    "security.scan_images": not_honoured("there is no image: the command runs as it is"),
    "security.run_as_non_root": _AS_USER,
    "security.read_only_root_filesystem": honoured(
        f"{_READ_ONLY.note}; where no private mount namespace can be made (not root, no user namespaces), reported"
    ),
    "monitoring.enable_metrics": not_honoured(_NO_MONITORING),
    "monitoring.enable_tracing": not_honoured(_NO_MONITORING),
    "monitoring.enable_alerts": not_honoured(_NO_MONITORING),
    "database.connection_pool_min": not_honoured(_NO_POOL),
    "database.connection_pool_max": not_honoured(_NO_POOL),
    "environment_variables": honoured("each replica's environment"),
    "secrets": honoured("read from the deployer's environment, given to replicas, never stored"),
}

CUSTOM_SETTINGS = frozenset(
    {
        "command",
        "port",
        "health_path",
        "workdir",
        "health_interval_seconds",
        "health_timeout_seconds",
        "healthy_threshold",
        "unhealthy_threshold",
        "log_max_bytes",
        "log_backups",
        "run_as_user",
    }
)

DECLARATION = SettingsDeclaration("local", SETTINGS, CUSTOM_SETTINGS)


MACHINE_DEPENDENT = (
    "resources.memory_max",
    "resources.memory_min",
    "resources.cpu_max",
    "resources.cpu_min",
    "security.read_only_root_filesystem",
)


def declaration_for(offer: Offer) -> SettingsDeclaration:
    """What the local platform honours on a machine offering ``offer`` (``confinement.probe``)."""
    memory = offer.memory.version if offer.memory is not None else 0
    cpu = offer.cpu.version if offer.cpu is not None else 0
    settings = {
        **SETTINGS,
        "resources.memory_max": _MEMORY_MAX[memory],
        "resources.memory_min": _MEMORY_MIN[memory],
        "resources.cpu_max": _CPU_MAX[cpu],
        "resources.cpu_min": _CPU_MIN[cpu],
        "security.read_only_root_filesystem": _READ_ONLY if offer.private_mounts else _NO_PRIVATE_MOUNTS,
    }
    return replace(DECLARATION, settings=settings)
