"""What the ``local`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against the driver and the agent: replicas are processes on this machine behind
the router, with the configuration's environment and secrets. The
router listens on 127.0.0.1 at ``network.port`` (or ``custom_settings.port``), serves
``network.domain`` only when one is set, and terminates TLS with ``network.use_https``
(``tls``); replicas are probed at ``network.health_check_path``. With ``auto_scaling`` on,
the agent's autoscaler (``autoscaling``) scales the live version set from its measured CPU.
``security.scan_images`` scans with ``pip-audit`` of ``requirements.txt`` in the workdir
unless the configuration names its ``scan_command``.

Limits, the replicas' user and a read-only filesystem depend on what the machine offers
(``confinement.Offer``): ``declaration_for`` answers for one machine (the driver's, computed
when it is made), ``DECLARATION`` for the docs, naming each mechanism and its fallback.
"""

from __future__ import annotations

from dataclasses import replace

from uno.deployment.adapters.platforms.local.confinement import Offer
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import ScanCommand, SettingsDeclaration, Support, honoured, not_honoured

_AUTOSCALED = (
    "the agent measures the ready replicas' CPU in /proc and scales the version set taking all traffic"
    " between replicas_min and replicas_max like an HPA (see custom_settings.autoscale_interval_seconds,"
    " scale_down_stabilization_seconds); each scale is recorded and shown by uno-deploy agent"
)
_NOT_YET = "arrives with the observability work"
_POOL = "each replica's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"

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
    "resources.replicas_max": honoured("the most replicas the autoscaler runs"),
    "resources.auto_scaling": honoured(_AUTOSCALED),
    "resources.auto_scaling_cpu_threshold": honoured(
        "the autoscaler's target: average CPU of the ready replicas, in percent of resources.cpu_min"
    ),
    "network.domain": honoured(
        "the one host the router serves: a request with another Host is answered 421; with use_https, the "
        "certificate's name"
    ),
    "network.use_https": honoured(
        "the router terminates TLS with custom_settings.tls_cert_file and tls_key_file, else with a self-signed "
        "certificate for the domain made once in the state directory (openssl)"
    ),
    "network.port": honoured(
        "the router's public port on 127.0.0.1 (custom_settings.port wins if set); replicas get their own PORT"
    ),
    "network.health_check_path": honoured(
        "the path each replica is probed at (custom_settings.health_path, deprecated, wins if set)"
    ),
    "security.enable_network_policy": not_honoured("processes are not isolated from the network"),
    "security.run_as_non_root": _AS_USER,
    "security.read_only_root_filesystem": honoured(
        f"{_READ_ONLY.note}; where no private mount namespace can be made (not root, no user namespaces), reported"
    ),
    "monitoring.enable_tracing": not_honoured(f"tracing {_NOT_YET}: nothing exports spans yet"),
    "monitoring.enable_alerts": not_honoured(f"alerting {_NOT_YET}: no alert rule is set up yet"),
    "database.connection_pool_min": honoured(_POOL),
    "database.connection_pool_max": honoured(_POOL),
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
        "autoscale_interval_seconds",
        "scale_down_stabilization_seconds",
        "tls_cert_file",
        "tls_key_file",
        "run_as_user",
    }
)

PIP_AUDIT = ("pip-audit", "--requirement", "requirements.txt", "--strict", "--progress-spinner", "off")


def scanner(config: DeploymentConfig) -> ScanCommand:
    """There is no image: ``pip-audit`` audits the requirements the application declares, in its workdir."""
    workdir = config.custom_settings.get("workdir")
    return ScanCommand(PIP_AUDIT, workdir if isinstance(workdir, str) else None, "pip install pip-audit")


DECLARATION = SettingsDeclaration(
    "local", SETTINGS, CUSTOM_SETTINGS, deprecated={"health_path": "network.health_check_path"}, scanner=scanner
)


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
