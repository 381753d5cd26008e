"""Custom actions, found through the ``uno.deployment.actions`` entry point group.

A distribution declares, for example::

    [project.entry-points."uno.deployment.actions"]
    notify_slack = "my_package.actions:NotifySlack"

The object may be an action class (instantiated with no arguments) or an action
instance; it needs a ``kind``, ``check(params)`` and ``async run(context)``. Unless it
declares ``free_form = False`` (its params cannot choose what runs, is requested or read),
only an admin may define its tasks over the HTTP API (``services.authority``). A plugin
that fails to load or does not look like an action stops start-up with a message that
names it: a deploy that silently lacks a step is worse than one that does not start.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from uno.deployment.engine.actions import Action, ActionRegistry

GROUP = "uno.deployment.actions"


class PluginError(RuntimeError):
    """An installed action plugin could not be used."""


def registry_with_plugins(builtins: list[Action]) -> ActionRegistry:
    registry = ActionRegistry(builtins)
    for entry_point in entry_points(group=GROUP):
        registry.register(_load(entry_point))
    return registry


def _load(entry_point: Any) -> Action:
    try:
        loaded = entry_point.load()
        action = loaded() if isinstance(loaded, type) else loaded
    except Exception as error:
        raise PluginError(
            f"action plugin {entry_point.name!r} ({entry_point.value}) failed to load: {error}"
        ) from error
    if not (
        isinstance(getattr(action, "kind", None), str)
        and callable(getattr(action, "check", None))
        and callable(getattr(action, "run", None))
    ):
        raise PluginError(f"action plugin {entry_point.name!r} ({entry_point.value}) needs kind, check() and run()")
    plugin: Action = action
    return plugin
