"""What the ``local`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against the driver and the agent: replicas are processes on this machine behind
the router, with the configuration's environment and secrets; nothing limits them. The
router listens on 127.0.0.1 at ``network.port`` (or ``custom_settings.port``), serves
``network.domain`` only when one is set, and terminates TLS with ``network.use_https``
(``tls``); replicas are probed at ``network.health_check_path``. With ``auto_scaling`` on,
the agent's autoscaler (``autoscaling``) scales the live version set from its measured CPU.
``security.scan_images`` scans with ``pip-audit`` of ``requirements.txt`` in the workdir
unless the configuration names its ``scan_command``.
"""

from __future__ import annotations

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import ScanCommand, SettingsDeclaration, Support, honoured, not_honoured

_NO_LIMITS = "processes run without CPU or memory limits"
_AUTOSCALED = (
    "the agent measures the ready replicas' CPU in /proc and scales the version set taking all traffic"
    " between replicas_min and replicas_max like an HPA (see custom_settings.autoscale_interval_seconds,"
    " scale_down_stabilization_seconds); each scale is recorded and shown by uno-deploy agent"
)
_NOT_YET = "arrives with the observability work"
_POOL = "each replica's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": not_honoured(_NO_LIMITS),
    "resources.cpu_max": not_honoured(_NO_LIMITS),
    "resources.memory_min": not_honoured(_NO_LIMITS),
    "resources.memory_max": not_honoured(_NO_LIMITS),
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
        "autoscale_interval_seconds",
        "scale_down_stabilization_seconds",
        "tls_cert_file",
        "tls_key_file",
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
