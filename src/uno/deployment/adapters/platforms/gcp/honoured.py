"""What the ``gcp`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against what ``resources`` renders. Pure data: importing it needs no extra, so the
declaration holds whether or not the Google SDK is installed.
"""

from __future__ import annotations

from uno.deployment.adapters.platforms.gcp import options
from uno.deployment.adapters.platforms.kubernetes.honoured import scanner
from uno.deployment.ports.platforms import SettingsDeclaration, Support, honoured, not_honoured

_NOT_YET = "arrives with the observability work"
_POOL = "the container's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"
_LIMITS = "the container's resources.limits: the smallest Cloud Run size (1, 2, 4, 6 or 8 CPUs) holding it"
_NO_REQUEST = "Cloud Run allocates an instance its limits: there is no separate request (cpu_max, memory_max are used)"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": not_honoured(_NO_REQUEST),
    "resources.cpu_max": honoured(_LIMITS + " (more memory can need more CPUs: Cloud Run's pairs)"),
    "resources.memory_min": not_honoured(_NO_REQUEST),
    "resources.memory_max": honoured("the container's resources.limits.memory (128Mi to 32Gi, Cloud Run's pairs)"),
    "resources.replicas_min": honoured(
        "the revision's scaling.minInstanceCount (and maxInstanceCount without auto_scaling)"
    ),
    "resources.replicas_max": honoured("the revision's scaling.maxInstanceCount (with auto_scaling)"),
    "resources.auto_scaling": honoured("Cloud Run scales each revision by load between min and max instances"),
    "resources.auto_scaling_cpu_threshold": not_honoured(
        "Cloud Run scales on request concurrency and CPU by its own rule: no CPU target can be set"
    ),
    "network.domain": not_honoured("map a domain to the service once outside uno-deploy (docs/how-to/gcp.md)"),
    "network.use_https": not_honoured("Cloud Run serves HTTPS itself on its run.app URL and mapped domains"),
    "network.port": not_honoured("the container listens on custom_settings.container_port (default 8080)"),
    "network.health_check_path": honoured("the container's startupProbe and livenessProbe httpGet path"),
    "security.enable_network_policy": not_honoured(
        "on Cloud Run custom_settings.ingress (and IAM on the service) say who may connect"
    ),
    "security.run_as_non_root": not_honoured("Cloud Run runs the image's user: set USER in the image"),
    "security.read_only_root_filesystem": not_honoured(
        "Cloud Run's filesystem is an in-memory writable layer: it cannot be made read-only"
    ),
    "monitoring.enable_tracing": not_honoured(f"tracing {_NOT_YET}"),
    "monitoring.enable_alerts": not_honoured(f"alerting {_NOT_YET}: no Cloud Monitoring alert policy is made yet"),
    "database.connection_pool_min": honoured(_POOL),
    "database.connection_pool_max": honoured(_POOL),
    "environment_variables": honoured("the container's env (PORT is Cloud Run's own and is left to it)"),
    "secrets": honoured("the container's env valueSource.secretKeyRef: the Secret Manager secret in secret_refs"),
}

DECLARATION = SettingsDeclaration("gcp", SETTINGS, options.KEYS, scanner=scanner)
