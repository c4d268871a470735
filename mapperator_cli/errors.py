"""Turning failures into one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import sys

EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


def is_user_error(exc: BaseException) -> bool:
    """Errors caused by the user's input: files, formats, settings."""
    from tokenization.errors import MapperInputError

    return isinstance(exc, (UserError, MapperInputError, FileNotFoundError, IsADirectoryError,
                            NotADirectoryError, PermissionError, FileExistsError))


def run_guarded(app) -> int:
    """Run the Typer app and map every failure, usage errors included, to one line on stderr."""
    import typer

    try:
        result = app(standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return getattr(exc, "exit_code", 0)
    except typer.Abort:
        print("mapper: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # usage errors: unknown options, missing arguments, bad values
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message.strip():  # `mapper` alone: the help was shown, nothing went wrong to report
            return getattr(exc, "exit_code", EXIT_USER_ERROR)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        print(f"mapper: error: {one_line(message)}{hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FAILURE)
    except KeyboardInterrupt:
        print("mapper: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (`mapper ... | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("MAPPER_DEBUG"):
            raise
        if is_user_error(exc):
            print(f"mapper: error: {one_line(exc)}", file=sys.stderr)
            return EXIT_USER_ERROR
        print(f"mapper: internal error: {type(exc).__name__}: {one_line(exc)} "
              "(set MAPPER_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_FAILURE
