"""What the ``kubernetes`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against what ``manifests`` renders. Pure data: importing it needs no extra, so the
declaration holds whether or not the Kubernetes client is installed.
"""

from __future__ import annotations

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.ports.platforms import ScanCommand, SettingsDeclaration, Support, honoured, not_honoured

_NOT_YET = "arrives with the observability work"
_POOL = "the container's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"
_RESOURCES = "the container's resources: requests from cpu_min/memory_min, limits from cpu_max/memory_max"
_AUTOSCALER = "a HorizontalPodAutoscaler on the serving colour (with auto_scaling)"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": honoured(_RESOURCES),
    "resources.cpu_max": honoured(_RESOURCES),
    "resources.memory_min": honoured(_RESOURCES),
    "resources.memory_max": honoured(_RESOURCES),
    "resources.replicas_min": honoured("the Deployment's replicas (and a PodDisruptionBudget past one)"),
    "resources.replicas_max": honoured(_AUTOSCALER),
    "resources.auto_scaling": honoured(_AUTOSCALER),
    "resources.auto_scaling_cpu_threshold": honoured("the autoscaler's CPU utilisation target"),
    "network.domain": honoured("an Ingress for the host"),
    "network.use_https": honoured("the Ingress's TLS, from the Secret <app>-tls (not issued here)"),
    "network.port": not_honoured("the container listens on custom_settings.container_port (default 8080)"),
    "network.health_check_path": honoured("the probes' path (custom_settings.health_path, deprecated, wins if set)"),
    "security.enable_network_policy": honoured("a NetworkPolicy letting in the container port only"),
    "security.run_as_non_root": honoured("the pod's securityContext.runAsNonRoot"),
    "security.read_only_root_filesystem": honoured("the container's readOnlyRootFilesystem, with /tmp writable"),
    "monitoring.enable_tracing": not_honoured(f"tracing {_NOT_YET}: nothing exports spans yet (none is rendered)"),
    "monitoring.enable_alerts": not_honoured(f"alerting {_NOT_YET}: no alert rule is rendered yet"),
    "database.connection_pool_min": honoured(_POOL),
    "database.connection_pool_max": honoured(_POOL),
    "environment_variables": honoured("the container's env"),
    "secrets": honoured("env from the Secret custom_settings.secret_name (never rendered)"),
}

CUSTOM_SETTINGS = frozenset(
    {
        "image",
        "namespace",
        "kube_context",
        "kubernetes_version",
        "container_port",
        "health_path",
        "secret_name",
        "ingress_class",
        "progress_deadline_seconds",
        "termination_grace_seconds",
        "traffic",
    }
)

TRIVY_INSTALL = "see https://trivy.dev/latest/getting-started/installation/"


def scanner(config: DeploymentConfig) -> ScanCommand | None:
    """``trivy`` scans the configured image; it fails on HIGH or CRITICAL findings."""
    image = config.custom_settings.get("image")
    if not isinstance(image, str) or not image:
        return None
    argv = ("trivy", "image", "--exit-code", "1", "--severity", "HIGH,CRITICAL", image)
    return ScanCommand(argv, None, TRIVY_INSTALL)


DECLARATION = SettingsDeclaration(
    "kubernetes", SETTINGS, CUSTOM_SETTINGS, deprecated={"health_path": "network.health_check_path"}, scanner=scanner
)
