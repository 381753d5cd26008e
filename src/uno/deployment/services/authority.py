"""Who may make the server run what: free-form tasks are defined by admins only.

The model (as in Spinnaker, GitLab or Argo: whoever may trigger a pipeline may run only
what someone trusted defined):

- a *free-form* task (``command``, ``http_check``, ``db_restore``, and every plugin action
  that does not declare otherwise, see ``engine.actions``) chooses what the server runs,
  requests or reads, so only an ``admin`` may define one; the task records who did
  (``Task.authorized_by``);
- executing or resuming a pipeline needs ``admin`` if it holds a free-form task that no
  admin defined (one stored before this rule, or written to the store by other means);
  a ``deploy`` caller may run a pipeline whose free-form tasks an admin defined, as it
  may deploy a configuration an admin wrote;
- every other action runs what an admin already defined (a configuration's commands,
  database and platform, written by admins only) or an installed plugin's own code.

The Python library is trusted (an in-process caller already runs code of its choosing):
its calls act as ``TRUSTED``. The HTTP API passes each request's caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine.actions import ActionRegistry


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: a name for the records, and whether they hold the ``admin`` scope."""

    name: str
    admin: bool


TRUSTED = Caller("library", admin=True)


def may_define(actions: ActionRegistry, kind: str, caller: Caller) -> Failure | None:
    """Why ``caller`` may not define a task of ``kind``, or None when they may."""
    if caller.admin or not actions.free_form(kind):
        return None
    return Failure(_refusal(kind, "define"))


def may_run(actions: ActionRegistry, pipeline: Pipeline, caller: Caller) -> Failure | None:
    """Why ``caller`` may not run ``pipeline``, or None when they may."""
    if caller.admin:
        return None
    for _, task in pipeline.tasks():
        if actions.free_form(task.action) and not task.authorized_by:
            return Failure(_refusal(task.action, "run", task=task.name))
    return None


def _refusal(kind: str, verb: str, **context: str) -> ErrorDetails:
    whose = "" if verb == "define" else " that no admin defined"
    return ErrorDetails(
        ErrorCode.FORBIDDEN,
        f"a {kind!r} task{whose} chooses what the server runs or reaches: to {verb} one needs the 'admin' scope",
        {"needed": "admin", "action": kind, **context},
    )
