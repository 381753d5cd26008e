"""The settings the engine honours whatever the platform: declared once, here, not per driver.

Each is used by the default pipeline (``templates``), its steps or the services around
it on every platform. Enabled test suites without a command are the exception the
check reports (``services.honouring``): the pipeline leaves them out.
"""

from __future__ import annotations

from uno.deployment.domain.configs import TEST_SUITES
from uno.deployment.ports.platforms import Support, honoured

_SUITES = {
    **{
        f"testing.run_{suite}_tests": honoured(f"runs testing.{suite}_test_command before the deploy step")
        for suite in TEST_SUITES
    },
    **{f"testing.{suite}_test_command": honoured(f"the {suite} tests' command") for suite in TEST_SUITES},
}

_URL = (
    "the replicas' DATABASE_URL (local: given as a secret; kubernetes: the password put in from the Secret, "
    "which must then be URL-safe)"
)
_CONNECTION = f"the backup's and migrations' connection, and {_URL}"

SETTINGS: dict[str, Support] = {
    "strategy": honoured("the rollout over the driver's primitives (strategies)"),
    "auto_rollback": honoured("a deploy that failed after reaching the platform is rolled back"),
    "build_command": honoured("run by the build stage, where the deploy runs"),
    **_SUITES,
    "testing.fail_on_test_failure": honoured("off: a failed suite does not stop the deploy"),
    "testing.test_timeout": honoured("each test task's timeout"),
    "database.engine": honoured(f"how backups and migrations reach the database; {_URL}"),
    "database.host": honoured(_CONNECTION),
    "database.port": honoured(_CONNECTION),
    "database.name": honoured(_CONNECTION),
    "database.user": honoured(_CONNECTION),
    "database.password_env_var": honoured(
        "read from the deployer's environment when a database step runs and when replicas start, "
        "URL-quoted into DATABASE_URL; never stored, masked in every record"
    ),
    "database.ssl_mode": honoured(f"{_CONNECTION} (?sslmode=)"),
    "database.apply_migrations": honoured("an apply-migrations task before the deploy step"),
    "database.migration_command": honoured("the apply-migrations task's command"),
    "database.backup_before_deploy": honoured("a backup-database task before anything changes"),
    "database.backup_retention": honoured("older backups are pruned"),
    "security.scan_images": honoured(
        "a scan-images task before the deploy step runs the scanner; a non-zero exit stops the deploy "
        "before the platform changes"
    ),
    "security.scan_command": honoured(
        "the scanner scan_images runs (default: trivy image on kubernetes, pip-audit of the workdir's "
        "requirements.txt on local)"
    ),
    "monitoring.enable_logging": honoured("the deployment's own log (off: none is kept)"),
    "monitoring.enable_metrics": honoured(
        "the app's deployments are exported at /metrics under an app label (off: its series are absent)"
    ),
    "monitoring.log_level": honoured("the deployment's own log level"),
}
