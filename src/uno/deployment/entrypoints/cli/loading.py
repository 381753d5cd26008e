"""Commands that load when they are used: ``uno-deploy status`` imports what ``status`` needs.

Typer builds every command from its function, so an app that imports all its command
modules up front pays for all of them (the HTTP client, YAML, the services, the store)
before ``--version`` can answer. ``lazy_group`` names each command by where it lives
(``"tracking:status"``: a function, or a ``typer.Typer`` of sub-commands) and imports
that module the first time the command is looked up: to run it, to show its help, or to
complete it. Listing the commands (``--help``) loads them all, for their short help.

Invariants: a command looks and behaves exactly as if it had been added with
``app.command(name)`` or ``app.add_typer(sub, name=name)``; the names keep the table's
order, then the commands added eagerly; a name is loaded at most once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import typer
from typer.core import MarkupMode, TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

PACKAGE = "uno.deployment.entrypoints.cli"


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name: the table's are imported on first lookup, then kept."""

    def __init__(
        self,
        table: Mapping[str, str],
        eager: Mapping[str, Any],
        markup: MarkupMode,
        prepare: Callable[[Any], None] | None = None,
    ) -> None:
        self._table = dict(table)
        self._loaded: dict[str, Any] = {}
        self._eager = dict(eager)
        self._markup = markup
        self._prepare = prepare

    def __getitem__(self, name: str) -> Any:
        if name in self._eager:
            return self._eager[name]
        if name not in self._loaded:
            command = self._load(name, self._table[name])
            if self._prepare is not None:
                self._prepare(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._table.pop(name, None)
        self._eager[name] = command

    def __delitem__(self, name: str) -> None:
        if name in self._eager:
            del self._eager[name]
        else:
            del self._table[name]
            self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._table
        yield from self._eager

    def __len__(self) -> int:
        return len(self._table) + len(self._eager)

    def _load(self, name: str, where: str) -> Any:
        module, _, attribute = where.partition(":")
        found = getattr(importlib.import_module(f"{PACKAGE}.{module}"), attribute)
        if isinstance(found, typer.Typer):
            return get_group_from_info(
                TyperInfo(found, name=name),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=self._markup,
            )
        return get_command_from_info(
            CommandInfo(name=name, callback=found), pretty_exceptions_short=True, rich_markup_mode=self._markup
        )


def lazy_group(
    table: Mapping[str, str], *, base: type[TyperGroup] = TyperGroup, prepare: Callable[[Any], None] | None = None
) -> type[TyperGroup]:
    """A group class (``typer.Typer(cls=...)``) whose commands are ``table``'s, loaded on use.

    ``base`` is the group class it extends; ``prepare`` is applied to each command as it
    loads (what a root group would otherwise do to all its commands up front, loading them).
    """

    class LazyGroup(base):  # type: ignore[valid-type,misc]
        commands: MutableMapping[str, Any]

        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.commands = LazyCommands(table, self.commands, self.rich_markup_mode, prepare)

        def list_commands(self, ctx: Any) -> list[str]:
            return list(self.commands)

    return LazyGroup
