"""The look-around commands' short way: ``status``, ``history`` and ``config list`` read the store directly.

On the embedded store, what these commands show is what is stored, so they read it
through ``bootstrap.sqlite_reader`` (the standard ``sqlite3``, read-only) instead of
building the services: no SQLAlchemy, no engine, no configuration model. Each function
answers None when the short way cannot give exactly the answer the services would, and
the command then takes the full path, which answers (or fails) as before:

- with ``--server``, a store that is not a SQLite file at the newest schema (the full
  path migrates it or says why not), or a store the reader cannot read;
- a filter the services would refuse or normalise (they say why, or read ``prod`` as
  ``production``: the enum does it here too);
- a deployment not found (the services word the error, with its exit code);
- a deployment that says it is pending or running: the services check whether its
  runner died and, if so, end it before answering; a listing showing one goes the same way.

The answers are rendered by the same ``showing`` functions as the full path's, from the
same values (``views``); ``tests/integration/test_sqlite_reading.py`` compares the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from uno.deployment.domain import texts
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentStatus
from uno.deployment.entrypoints import views
from uno.deployment.entrypoints.cli import running
from uno.deployment.entrypoints.cli.backends import Deployment
from uno.deployment.ports.reading import ReadingFailed

if TYPE_CHECKING:
    from uno.deployment.domain.pipelines import Pipeline
    from uno.deployment.ports.reading import StoreReader

T = TypeVar("T")

_MAYBE_ORPHANED = frozenset({DeploymentStatus.PENDING, DeploymentStatus.RUNNING})


def deployments(app_name: str | None, environment: str | None, limit: int) -> list[Deployment] | None:
    """``history``'s deployments, newest first; None: take the full path."""
    filters = _filters(app_name, environment)
    if filters is None:
        return None
    listed = _read(lambda reader: [Deployment.stored(document) for document in reader.deployments(*filters, limit)])
    if listed is None or any(deployment.status in _MAYBE_ORPHANED for deployment in listed):
        return None
    return listed


def deployment(deployment_id: str) -> tuple[Deployment, Pipeline | None] | None:
    """``status``'s deployment and its pipeline; None: take the full path."""

    def both(reader: StoreReader) -> tuple[Deployment, Pipeline | None] | None:
        document = reader.deployment(deployment_id)
        if document is None:
            return None
        found = Deployment.stored(document)
        if found.status in _MAYBE_ORPHANED:
            return None
        return found, reader.pipeline(found.pipeline_id) if found.pipeline_id else None

    return _read(both)


def config_rows(app_name: str | None, environment: str | None, limit: int) -> list[views.ConfigRow] | None:
    """``config list``'s configurations, newest first; None: take the full path."""
    filters = _filters(app_name, environment)
    if filters is None:
        return None
    return _read(lambda reader: [views.ConfigRow.stored(document) for document in reader.configs(*filters, limit)])


def _read(work: Callable[[StoreReader], T | None]) -> T | None:
    if running.options().server is not None:
        return None
    from uno.deployment import bootstrap  # noqa: PLC0415

    reader = bootstrap.sqlite_reader(_store_url())
    if reader is None:
        return None
    try:
        return work(reader)
    except (ReadingFailed, KeyError, TypeError, ValueError):
        return None  # a document this version cannot read plainly (another version's) is the services' to read
    finally:
        reader.close()


def _store_url() -> str | None:
    """The settings' store: read without pydantic when that is all they set (``settings.plain_store_url``)."""
    from uno.deployment import settings  # noqa: PLC0415

    plain, url = settings.plain_store_url()
    return url if plain else running.cli_settings().database_url


def _filters(app_name: str | None, environment: str | None) -> tuple[str | None, str | None] | None:
    """The filters as stored (``prod`` is ``production``); None for one the services would refuse."""
    if app_name is not None and texts.problem(app_name) is not None:
        return None
    if environment is None:
        return app_name, None
    try:
        return app_name, DeploymentEnvironment(environment).value
    except ValueError:
        return None
