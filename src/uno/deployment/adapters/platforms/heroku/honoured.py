"""What the ``heroku`` platform does with each setting (``domain.settings_catalogue.PLATFORM``).

Checked against what ``resources`` sends. Pure data: importing it needs no token and no network.
"""

from __future__ import annotations

from uno.deployment.adapters.platforms.heroku import options
from uno.deployment.ports.platforms import SettingsDeclaration, Support, honoured, not_honoured

_SIZE = (
    "the dyno size: the smallest of standard-1x, standard-2x, performance-m and performance-l"
    " holding cpu_max and memory_max"
)
_FIXED = "Heroku's dyno sizes are fixed: only the largest need (cpu_max, memory_max) picks one"
_POOL = "the config vars DATABASE_POOL_MIN / DATABASE_POOL_MAX (beside DATABASE_URL), for the app's pool to read"

SETTINGS: dict[str, Support] = {
    "resources.cpu_min": not_honoured(_FIXED),
    "resources.cpu_max": honoured(_SIZE),
    "resources.memory_min": not_honoured(_FIXED),
    "resources.memory_max": honoured(_SIZE),
    "resources.replicas_min": honoured(
        "the formation's dyno quantity of the process type (PATCH /apps/{app}/formation)"
    ),
    "resources.replicas_max": not_honoured("Heroku's autoscaling is set in its dashboard, not by the Platform API"),
    "resources.auto_scaling": not_honoured("Heroku's autoscaling is set in its dashboard, not by the Platform API"),
    "resources.auto_scaling_cpu_threshold": not_honoured(
        "Heroku's autoscaling follows response time, set in its dashboard"
    ),
    "network.domain": not_honoured("custom domains are added once outside uno-deploy (heroku domains:add)"),
    "network.use_https": not_honoured("Heroku serves HTTPS on its own domain; a custom domain's is Heroku ACM's"),
    "network.port": not_honoured("Heroku gives each dyno its port in PORT: the app must listen there"),
    "network.health_check_path": honoured("the path of the HTTP check of the app's web_url, beside the dynos' state"),
    "security.enable_network_policy": not_honoured("Heroku's routing mesh decides who connects (Private Spaces aside)"),
    "security.run_as_non_root": not_honoured("dynos always run as an unprivileged user"),
    "security.read_only_root_filesystem": not_honoured("a dyno's filesystem is ephemeral and writable"),
    "monitoring.enable_tracing": not_honoured("tracing is an add-on's (heroku addons), not a deploy setting"),
    "monitoring.enable_alerts": not_honoured("alerts are set in Heroku's dashboard or an add-on"),
    "database.connection_pool_min": honoured(_POOL),
    "database.connection_pool_max": honoured(_POOL),
    "environment_variables": honoured("the app's config vars (only changed ones are sent; each change is a release)"),
    "secrets": honoured(
        "config vars whose values are read from the deployer's environment at deploy time, never stored by uno-deploy"
    ),
}

DECLARATION = SettingsDeclaration("heroku", SETTINGS, options.KEYS)
