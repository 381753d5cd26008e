"""What the ``local`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against the driver and the agent: replicas are processes on this machine behind
the router, with the configuration's environment and secrets; nothing limits them, and
the router serves plain HTTP on ``custom_settings.port`` only. ``security.scan_images``
scans with ``pip-audit`` of ``requirements.txt`` in the workdir unless the configuration
names its ``scan_command``.
"""

from __future__ import annotations

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import ScanCommand, SettingsDeclaration, Support, honoured, not_honoured

_NO_LIMITS = "processes run without CPU or memory limits"
_NO_SCALING = "replicas stay at replicas_min: nothing scales them"
_NOT_YET = "arrives with the observability work"
_POOL = "each replica's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": not_honoured(_NO_LIMITS),
    "resources.cpu_max": not_honoured(_NO_LIMITS),
    "resources.memory_min": not_honoured(_NO_LIMITS),
    "resources.memory_max": not_honoured(_NO_LIMITS),
    "resources.replicas_min": honoured("this many processes per version, behind the router"),
    "resources.replicas_max": not_honoured(_NO_SCALING),
    "resources.auto_scaling": not_honoured(_NO_SCALING),
    "resources.auto_scaling_cpu_threshold": not_honoured(_NO_SCALING),
    "network.domain": not_honoured("the router listens on this machine's custom_settings.port; no host is served"),
    "network.use_https": not_honoured("the router serves plain HTTP: no certificate, no TLS"),
    "network.port": not_honoured("the router listens on custom_settings.port; replicas get their own PORT"),
    "network.health_check_path": not_honoured("replicas are probed at custom_settings.health_path (default /healthz)"),
    "security.enable_network_policy": not_honoured("processes are not isolated from the network"),
    "security.run_as_non_root": not_honoured("replicas run as the user running the deploy"),
    "security.read_only_root_filesystem": not_honoured("replicas write wherever that user may"),
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
    }
)

PIP_AUDIT = ("pip-audit", "--requirement", "requirements.txt", "--strict", "--progress-spinner", "off")


def scanner(config: DeploymentConfig) -> ScanCommand:
    """There is no image: ``pip-audit`` audits the requirements the application declares, in its workdir."""
    workdir = config.custom_settings.get("workdir")
    return ScanCommand(PIP_AUDIT, workdir if isinstance(workdir, str) else None, "pip install pip-audit")


DECLARATION = SettingsDeclaration("local", SETTINGS, CUSTOM_SETTINGS, scanner)
