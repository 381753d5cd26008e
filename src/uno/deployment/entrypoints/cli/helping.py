"""What ``--help`` shows: a flag takes no value, so it shows none.

Typer prints each option's type beside it (``<str>``, ``<int range>``); for a flag
(``--json``, ``--wait/--no-wait``, ``--help``) that reads as if it took ``<bool>``. The
root group clears the metavar of its own flags once, before it runs, and of each command's
as that command loads (``loading``: ``prepare=tidy``), so tidying loads no command.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup, TyperOption


class Commands(TyperGroup):
    """``uno-deploy``'s root group: its commands' flags show no type in ``--help``."""

    _tidied = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not self._tidied:
            tidy(self, children=False)
            self._tidied = True
        return super().main(*args, **kwargs)


def tidy(command: Any, *, children: bool = True) -> None:
    """Clear the metavar of ``command``'s flags (and its help option's), and of its subcommands' with ``children``.

    Typer carries its own copy of click, so the command is duck-typed: its context class
    makes the context that its (cached) help option is made for.
    """
    help_option = command.get_help_option(command.context_class(command))
    for parameter in [*command.params, *([help_option] if help_option else [])]:
        if isinstance(parameter, TyperOption) and parameter.is_flag:
            parameter.metavar = ""
    if children:
        for child in getattr(command, "commands", {}).values():
            tidy(child)
