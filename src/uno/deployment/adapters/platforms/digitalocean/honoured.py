"""What the ``digitalocean`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against what ``resources`` renders. Pure data.
"""

from __future__ import annotations

from uno.deployment.adapters.platforms.digitalocean import options
from uno.deployment.ports.platforms import SettingsDeclaration, Support, honoured, not_honoured

_SIZE = "the service's instance_size_slug: the smallest App Platform size holding cpu_max and memory_max"
_FIXED = "App Platform's instance sizes are fixed: only the largest need (cpu_max, memory_max) picks one"
_AUTOSCALING = "the service's autoscaling (CPU), when auto_scaling is on and replicas_max is above replicas_min"
_POOL = "the service's DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": not_honoured(_FIXED),
    "resources.cpu_max": honoured(_SIZE),
    "resources.memory_min": not_honoured(_FIXED),
    "resources.memory_max": honoured(_SIZE),
    "resources.replicas_min": honoured("the service's instance_count (autoscaling's min_instance_count with it)"),
    "resources.replicas_max": honoured("autoscaling's max_instance_count (" + _AUTOSCALING + ")"),
    "resources.auto_scaling": honoured(_AUTOSCALING),
    "resources.auto_scaling_cpu_threshold": honoured("autoscaling's metrics.cpu.percent"),
    "network.domain": not_honoured("domains are added to the app once outside uno-deploy (doctl apps update)"),
    "network.use_https": not_honoured("App Platform serves every app and domain over HTTPS itself"),
    "network.port": honoured("the service's http_port"),
    "network.health_check_path": honoured("the service's health_check.http_path"),
    "security.enable_network_policy": not_honoured("App Platform decides who connects (trusted sources aside)"),
    "security.run_as_non_root": not_honoured("App Platform runs the image's user: set USER in the image"),
    "security.read_only_root_filesystem": not_honoured("App Platform has no read-only root filesystem setting"),
    "monitoring.enable_tracing": not_honoured("App Platform has no tracing setting"),
    "monitoring.enable_alerts": not_honoured("alerts are the app's alert policies, set outside uno-deploy"),
    "database.connection_pool_min": honoured(_POOL),
    "database.connection_pool_max": honoured(_POOL),
    "environment_variables": honoured("the service's envs, type GENERAL"),
    "secrets": honoured("the service's envs, type SECRET, read from the deployer's environment at deploy time"),
}

DECLARATION = SettingsDeclaration("digitalocean", SETTINGS, options.KEYS)
