"""Shared plumbing for the project's command-line scripts.

Every script raises `InputError` for input a user can fix. `run_cli` turns it
into one clear line on stderr and a non-zero exit, with no traceback.
"""
import sys
from typing import Callable

import typer
from wasabi import color


class InputError(Exception):
    """Bad input: the message names what is wrong, where, and how to fix it."""


def fail_line(text: str) -> None:
    # wasabi wraps at the terminal width; an error stays one line so logs and tests can read it
    line = f"✘ {text}"
    print(color(line, fg="red", bold=True) if sys.stderr.isatty() else line, file=sys.stderr)


def run_cli(main: Callable) -> None:
    try:
        typer.run(main)
    except InputError as err:
        fail_line(str(err))
        sys.exit(1)
