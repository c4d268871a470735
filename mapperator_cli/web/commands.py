"""The `mapper` commands the page runs, as their Typer parsers, taken from the command modules
themselves (not from `mapperator_cli.app`, which imports `mapper web` and so would make a circle)."""

from __future__ import annotations

import functools
import importlib

COMMANDS = {"generate": ("mapperator_cli.generate", "generate"), "timing": ("mapperator_cli.timing", "timing"),
            "mod": ("mapperator_cli.mod", "mod"), "eval": ("mapperator_cli.eval", "eval_command")}


@functools.cache
def parser(name: str):
    """The click command `mapper NAME` parses its arguments with."""
    import typer

    module, function = COMMANDS[name]
    app = typer.Typer(name="mapper", add_completion=False, pretty_exceptions_enable=False)
    app.command(name)(getattr(importlib.import_module(module), function))
    return typer.main.get_command(app)  # one command: the command itself
