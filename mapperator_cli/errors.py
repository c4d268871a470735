"""Turning failures into one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import errno
import os
import signal
import sys

EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the filesystem is read-only"}


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so that `finally` blocks keep finished work (a BaseException,
    so that no `except Exception` swallows it)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated


_interrupted = False


def _on_sigint(signum, frame) -> None:
    # Typer turns KeyboardInterrupt into a silent exit status 130; the flag lets us still say why.
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


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

    global _interrupted
    _interrupted = False
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm), signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread (an embedding program): leave its signals alone
        return _run(app, typer)
    try:
        return _run(app, typer)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def _run(app, typer) -> int:
    try:
        result = app(standalone_mode=False)
        if result == EXIT_INTERRUPTED and _interrupted:
            print("mapper: interrupted", file=sys.stderr)
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
    except Terminated:
        print("mapper: interrupted (terminated)", file=sys.stderr)
        return EXIT_TERMINATED
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
        if isinstance(exc, OSError) and (exc.errno in DISK_ERRNOS or "No space left" in str(exc)):
            where = f" writing {exc.filename}" if exc.filename else ""
            print(f"mapper: error: {DISK_ERRNOS.get(exc.errno, 'the disk is full')}{where}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"mapper: internal error: {type(exc).__name__}: {one_line(exc)} "
              "(set MAPPER_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_FAILURE
