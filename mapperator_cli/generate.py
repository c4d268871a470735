"""`mapper generate AUDIO`: a beatmap from a song with a Mapperatorinator-compatible model."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from mapperator_cli.errors import UserError
from mapperator_cli.generate_options import BY_NAME, command
from mapperator_cli.generate_request import parse_difficulties, parse_time_ms, request_from_options  # noqa: F401
from models.pipeline.request import DEVICES, GAMEMODES, IN_CONTEXTS, OUTPUT_TYPES, PRECISIONS  # noqa: F401


def run_generate(audio: Path | None, **values) -> None:
    """Generate a beatmap for AUDIO and print the path of every file written."""
    problem = BY_NAME["progress"].problem(values["progress"])  # how to report, not what to make: not the request's
    if problem is not None:
        raise UserError(problem)
    request = request_from_options(audio, values)

    from mapperator_cli.progress import progress_reporter
    from models.pipeline.mapset import run_mapset
    from models.pipeline.run import run_generation

    with progress_reporter(values["progress"], enabled=not values["quiet"]) as progress, _naming_files_kept():
        if request.mapset:
            result = run_mapset(request, request.mapset, progress=progress.update, token_progress=True)
        else:
            result = run_generation(request, progress=progress.update, token_progress=True)
    for warning in result.warnings:
        typer.echo(f"mapper: warning: {warning}", err=True)
    if getattr(result, "backup", None) is not None:
        typer.echo(f"mapper: the reference's old contents are in {result.backup}", err=True)
    for path in result.written:
        typer.echo(str(path))


generate = command(run_generate)


@contextlib.contextmanager
def _naming_files_kept():
    """When a later file fails (the .osz on a full disk), still print the ones written before it:
    the user keeps them, and the error line that follows names only the failed one."""
    try:
        yield
    except OSError as exc:
        for path in getattr(exc, "written", []):
            typer.echo(str(path))
        raise
