"""`mapper generate AUDIO`: a beatmap from a song with a Mapperatorinator-compatible model."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from types import SimpleNamespace

import typer

from mapperator_cli.errors import UserError
from mapperator_cli.generate_options import command, first_problem, request_fields

GAMEMODES = {"osu": 0, "taiko": 1, "catch": 2, "mania": 3}
IN_CONTEXTS = ("timing", "kiai", "gd", "no_hs")
OUTPUT_TYPES = ("timing", "kiai", "map", "sv")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "amp", "int8")  # models.loading.PRECISIONS, without importing torch for --help



def parse_time_ms(text: str | None, option: str) -> float | None:
    """Milliseconds from `83500`, `1:23.5` or the editor's `01:23:500`."""
    if text is None:
        return None
    text = text.strip()
    editor = re.fullmatch(r"(\d+):(\d{2}):(\d{3})", text)
    if editor:
        minutes, seconds, millis = map(int, editor.groups())
        return float(minutes * 60_000 + seconds * 1000 + millis)
    clock = re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", text)
    if clock:
        return int(clock.group(1)) * 60_000 + float(clock.group(2)) * 1000
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{option} takes milliseconds, m:ss.s or mm:ss:mmm, not {text!r}") from None
    if value < 0:
        raise UserError(f"{option} must not be negative")
    return value


def run_generate(audio: Path | None, **values) -> None:
    """Generate a beatmap for AUDIO and print the path of every file written."""
    o = SimpleNamespace(**values)
    reference = _read_reference(o.beatmap)
    if audio is None:
        if reference is None:
            raise UserError("give the song to map (AUDIO), or a --beatmap whose audio to use")
        audio = o.beatmap.parent / reference.general.audio_filename
    if audio.is_dir():
        raise UserError(f"{audio}: is a folder, not an audio file")
    if not audio.is_file():
        raise UserError(f"{audio}: audio file not found")
    gamemode = o.gamemode
    if gamemode is None:
        gamemode = next((k for k, v in GAMEMODES.items() if reference and v == int(reference.mode)), "osu")
    if gamemode not in GAMEMODES:
        raise UserError(f"unknown game mode {gamemode!r} (choose from {', '.join(GAMEMODES)})")
    keycount = o.keycount
    if keycount is None:
        keycount = int(reference.difficulty.circle_size) if reference and int(reference.mode) == 3 else 4
    contexts = [c.lower() for c in o.in_context]
    if set(contexts) - set(IN_CONTEXTS):
        raise UserError(f"--in-context takes {', '.join(IN_CONTEXTS)}, not {', '.join(sorted(set(contexts)))}")
    outputs = [t.lower() for t in o.output_type]
    if set(outputs) - set(OUTPUT_TYPES):
        raise UserError(f"--output-type takes {', '.join(OUTPUT_TYPES)}, not {', '.join(sorted(set(outputs)))}")
    problem = first_problem({**values, "keycount": keycount})
    if problem is not None:
        raise UserError(problem)
    _check_combinations(o, contexts)
    start_ms, end_ms = parse_time_ms(o.start_time, "--start-time"), parse_time_ms(o.end_time, "--end-time")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UserError("--end-time must be after --start-time")
    out = o.out if o.out is not None else (o.beatmap.parent if o.beatmap is not None else Path("."))
    if o.trace is not None and (o.trace.is_dir() or not o.trace.parent.is_dir()):
        raise UserError(f"{o.trace}: --trace needs a file path in an existing folder")
    difficulties = parse_difficulties(o.difficulty)
    if len(difficulties) > 1:
        _check_mapset_options(add_to_beatmap=o.add_to_beatmap, difficulty_name=o.version, parallel=o.parallel)
    _check_writable(o.beatmap.parent if o.add_to_beatmap and o.overwrite else out)

    from models.model_source import model_path

    model = model_path(o.model)  # before the heavy imports: a missing model is reported at once

    from mapperator_cli.progress import PassProgress
    from models.pipeline.request import GenerateRequest
    from models.pipeline.run import run_generation

    request = GenerateRequest(
        audio=audio, model=model, out_dir=out, gamemode=GAMEMODES[gamemode], keycount=keycount,
        difficulty=difficulties[0] if len(difficulties) == 1 else None, reference=o.beatmap, in_context=contexts,
        output_types=outputs, descriptors=list(o.descriptor), negative_descriptors=list(o.negative_descriptor),
        start_time=start_ms, end_time=end_ms, **request_fields(values))
    if len(difficulties) > 1:
        from models.pipeline.mapset import run_mapset

        with PassProgress(enabled=not o.quiet) as progress, _naming_files_kept():
            result = run_mapset(request, difficulties, progress=progress.update)
        for warning in result.warnings:
            typer.echo(f"mapper: warning: {warning}", err=True)
        for path in result.written:
            typer.echo(str(path))
        return
    with PassProgress(enabled=not o.quiet) as progress, _naming_files_kept():
        result = run_generation(request, progress=progress.update)
    for warning in result.warnings:
        typer.echo(f"mapper: warning: {warning}", err=True)
    if result.backup is not None:
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


def _check_combinations(o: SimpleNamespace, contexts: list[str]) -> None:
    """Options that contradict each other or need another one."""
    if o.negative_descriptor and (o.cfg_scale or 0) <= 1:
        raise UserError("--negative-descriptor needs --cfg-scale above 1")
    if contexts and o.beatmap is None:
        raise UserError("--in-context needs a reference --beatmap")
    if o.add_to_beatmap and o.beatmap is None:
        raise UserError("--add-to-beatmap needs the reference --beatmap to add to")
    if o.overwrite and not o.add_to_beatmap:
        raise UserError("--overwrite only applies with --add-to-beatmap")
    if o.lora is not None and not (o.lora / "adapter_config.json").is_file():
        raise UserError(f"{o.lora}: not a LoRA adapter folder (no adapter_config.json)")
    if o.offset is not None and o.bpm is None:
        raise UserError("--offset needs --bpm")
    if o.bpm is not None and "timing" in contexts:
        raise UserError("--bpm and --in-context timing both give the timing: choose one")
    if (o.lookback or 0) + (o.lookahead or 0) >= 0.95:
        raise UserError("--lookback plus --lookahead must leave part of each window to generate (below 0.95)")
    if o.device not in DEVICES:
        raise UserError(f"--device takes {', '.join(DEVICES)}, not {o.device!r}")
    if o.precision not in PRECISIONS:
        raise UserError(f"--precision takes {', '.join(PRECISIONS)}, not {o.precision!r}")
    if o.precision == "int8" and o.device == "cuda":
        raise UserError("--precision int8 runs on the CPU only: use --device cpu, or fp32/amp on a GPU")
    if o.diffusion_model is not None and o.refine is False:
        raise UserError("--diffusion-model and --no-refine contradict each other")


def parse_difficulties(text: str | None) -> list[float]:
    """Star ratings from `5.5` or `2,3.5,5` (each 0-15, no repeats, in the order given)."""
    if text is None:
        return []
    values = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise UserError(f"--difficulty takes star ratings such as 5.5 or 2,3.5,5, not {text!r}") from None
        if not 0 <= value <= 15:
            raise UserError("--difficulty star ratings must be between 0 and 15")
        values.append(value)
    if len(set(values)) < len(values):
        raise UserError("--difficulty lists a star rating twice")
    return values


def _check_mapset_options(*, add_to_beatmap: bool, difficulty_name: str | None, parallel: bool) -> None:
    if add_to_beatmap:
        raise UserError("--add-to-beatmap adds one difficulty: give a single --difficulty")
    if difficulty_name is not None:
        raise UserError("--difficulty-name names one difficulty; a mapset's are named by their star ratings")
    if parallel:
        raise UserError("--parallel makes one difficulty at a time: leave it out with a --difficulty list")


def _check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written now, not after minutes of generating."""
    import os

    while not folder.exists():  # the nearest folder that is there decides whether it can be made
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{folder}: is a file, not a folder; cannot write the output there")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{folder}: not writable; choose another --out")


def _read_reference(beatmap: Path | None):
    if beatmap is None:
        return None
    if not beatmap.is_file():
        raise UserError(f"{beatmap}: beatmap not found")
    if beatmap.suffix.lower() != ".osu":
        raise UserError(f"{beatmap}: the reference must be an .osu file")
    from tokenization import read_beatmap

    return read_beatmap(beatmap)
