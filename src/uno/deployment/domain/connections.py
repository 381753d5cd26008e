"""The application database's connection, as its programs and replicas are given it.

One place builds ``DATABASE_URL`` from a configuration's ``database`` section: the
migrations (``engine.database_steps``) and every platform driver's replicas use it
(backups give ``pg_dump`` the same settings as ``PG*`` variables, ``adapters.backups``).
The password is never part of a configuration: it is read, when needed, from the
variable ``password_env_var`` names (``url_from``), URL-quoted, or left for the platform
to insert (``url_with``: Kubernetes' ``$(VAR)``). Pure: no I/O, the environment is given.

What a replica gets (``pool_environment`` and the URL):

- ``DATABASE_URL``: ``postgresql://user:password@host:port/name?sslmode=...`` (or
  ``sqlite:///name``), a secret: drivers pass it as they pass secrets, never stored;
- ``DATABASE_POOL_MIN`` / ``DATABASE_POOL_MAX``: ``connection_pool_min`` / ``_max``, for
  the application's pool (it must read them: nothing sizes a pool for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from uno.deployment.domain.configs import DatabaseConfig

URL_VARIABLE = "DATABASE_URL"
POOL_MIN_VARIABLE = "DATABASE_POOL_MIN"
POOL_MAX_VARIABLE = "DATABASE_POOL_MAX"


def url_with(database: DatabaseConfig, password: str) -> str:
    """The URL with ``password`` put in as it is (already quoted, or a placeholder the platform fills)."""
    if database.engine == "sqlite":
        return f"sqlite:///{database.name or ''}"
    user = quote(database.user or "", safe="")
    secret = f":{password}" if password else ""
    credentials = f"{user}{secret}@" if user or secret else ""
    query = f"?sslmode={database.ssl_mode}" if database.ssl_mode else ""
    return f"postgresql://{credentials}{database.host or 'localhost'}:{database.port}/{database.name or ''}{query}"


def url_from(database: DatabaseConfig, environ: Mapping[str, str]) -> str | None:
    """The URL with the password read from the named variable; None when that variable is unset or empty."""
    if database.engine == "sqlite" or not database.password_env_var:
        return url_with(database, "")
    secret = environ.get(database.password_env_var)
    if not secret:
        return None
    return url_with(database, quote(secret, safe=""))


def pool_environment(database: DatabaseConfig) -> dict[str, str]:
    return {
        POOL_MIN_VARIABLE: str(database.connection_pool_min),
        POOL_MAX_VARIABLE: str(database.connection_pool_max),
    }


def replica_environment(
    database: DatabaseConfig | None, environ: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]] | None:
    """What a replica gets of the database: (plain variables, secret ones); None when its password is unset.

    No ``database`` section gives nothing. The secret part (``DATABASE_URL``, whole: it
    holds the password) goes where a driver puts secrets, never where it records settings.
    """
    if database is None:
        return {}, {}
    url = url_from(database, environ)
    if url is None:
        return None
    return pool_environment(database), {URL_VARIABLE: url}
