"""``--help`` in the usual Click/Typer style, whatever the installed Typer renders by default.

Typer 0.29 shows Python types in help (``--sync <bool>``, ``--top-k <int>``, ``paths...
<list[Path]>``, usage ``{paths}...``). The `ragstate` app's group class rewrites that once, when
it runs: a flag shows no value, an option shows an upper-case value name
(``TEXT``, ``INTEGER``, ``PATH`` or its own metavar such as ``NAME``), an argument shows its
upper-case name, and the usage line reads ``PATHS...`` / ``[ARG]``. Only public attributes are
set (``metavar``), and two methods of argument objects are replaced on the instances, since
Typer's argument class ignores ``metavar`` for the type column and the usage line.

Example::

    app = typer.Typer(cls=ConventionalGroup, ...)     # every command and sub-command below it
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any, get_args, get_origin

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

_NAMES = {int: "INTEGER", float: "FLOAT", str: "TEXT", bool: "BOOLEAN"}


def _value_name(param: TyperOption) -> str:
    """click's own names: TEXT, INTEGER, FLOAT, PATH, a choice as [a|b|c]."""
    desc = param.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices or ()) + "]"
    if desc.is_path:
        return "PATH"
    annotation = desc.annotation
    element = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    return _NAMES.get(element, "VALUE")


def _usage_pieces(self: TyperArgument, ctx: typer.Context) -> list[str]:
    name = (self.metavar or self.name or "ARG") + ("..." if self.nargs != 1 else "")
    return [name if self.required else f"[{name}]"]


def _no_type(self: TyperArgument, ctx: typer.Context) -> None:
    return None


def conventional(command: Any) -> None:
    """Rewrite the help of ``command``'s parameters (and its help option) in place."""
    for param in command.params:
        if isinstance(param, TyperOption):
            if param.is_flag or param.count:
                param.metavar = ""  # a flag takes no value: show none (was <bool>)
            elif param.metavar is None:
                param.metavar = _value_name(param)
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "arg").upper()
            param.get_usage_pieces = types.MethodType(_usage_pieces, param)  # type: ignore[method-assign]
            param.display_type_rich = types.MethodType(_no_type, param)  # type: ignore[method-assign]
    # The help option is made on first use and cached on the command (click >= 8.1.8).
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        help_option.metavar = ""


def _commands(command: Any) -> Iterator[Any]:
    yield command
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            yield from _commands(sub)


class ConventionalGroup(TyperGroup):
    """The root group: :func:`conventional` help for every command below it, done when it runs
    (Typer adds the commands after making the group)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        for command in _commands(self):
            conventional(command)
        return super().main(*args, **kwargs)
