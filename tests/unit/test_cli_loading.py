"""The CLI's lazy commands: loaded on lookup, in the table's order, prepared once, as if added eagerly."""

from __future__ import annotations

import sys
from typing import Any

from typer.core import TyperGroup

from uno.deployment.entrypoints.cli import loading


class Marked(TyperGroup):
    marked = True


def test_a_command_loads_when_looked_up_is_prepared_once_and_keeps_its_place():
    prepared: list[str] = []
    group_class = loading.lazy_group(
        {"history": "tracking:history", "token": "tokens:app"},
        base=Marked,
        prepare=lambda command: prepared.append(command.name),
    )
    eager = TyperGroup(name="eager")
    group: Any = group_class(name="uno-deploy", commands={"down": eager})

    assert issubclass(group_class, Marked)
    assert group.list_commands(None) == ["history", "token", "down"]
    assert prepared == []
    history = group.commands["history"]
    assert group.commands["history"] is history
    assert (history.name, prepared) == ("history", ["history"])
    assert "--env" in {option for parameter in history.params for option in parameter.opts}
    token = group.commands["token"]
    assert set(token.commands) >= {"create", "list", "revoke"}
    assert prepared == ["history", "token"]
    assert group.commands["down"] is eager
    assert "uno.deployment.entrypoints.cli.tracking" in sys.modules
