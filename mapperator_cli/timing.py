"""`mapper timing AUDIO`: BPM, offset and red lines, heard in the audio (`--method audio`) or by a
model's multi-pass voting ("super timing", `--method model`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError
from mapperator_cli.generate_options import PROGRESS_FORMATS

METHODS = ("audio", "model")


def timing(
    audio: Path = typer.Argument(..., help="The song (mp3, ogg, wav, flac)."),
    method: str | None = typer.Option(None, "--method", show_default=False,
                                      help="audio: signal analysis of the song (no model); model: the model's "
                                           "timing passes (super timing). Default: audio with the bundled starter "
                                           "model, model with any other."),
    model: str | None = typer.Option(None, "--model", show_default=False, help="Model: a checkpoint folder, a Hugging Face hub id or v29/v30/v31/v32 (downloaded once, then cached); default: $MAPPER_MODEL, else the bundled starter model."),
    profile: str | None = typer.Option(None, "--profile", help="Profile of the checkpoint (detected if left out)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the new .osu (default: --beatmap's folder, else .)."),
    beatmap: Path | None = typer.Option(None, "--beatmap", help="Write a new copy of this map with the new timing "
                                                                "(its green lines are kept; the file is not changed)."),
    passes: int = typer.Option(20, "--passes", help="Timing passes to vote over (1 = a single plain pass; model only)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Windows decoded together (model only)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed for the pass offsets (model only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the timing points and the path as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
    progress_format: str = typer.Option("bar", "--progress", help="Progress on stderr: bar, or json (one JSON "
                                        "line per update: pass, done, total)."),
) -> None:
    """Find the timing of AUDIO and write it as a timing-only .osu (or into a copy of --beatmap)."""
    if not audio.is_file():
        raise UserError(f"{audio}: audio file not found")
    if beatmap is not None and not beatmap.is_file():
        raise UserError(f"{beatmap}: beatmap not found")
    if method is not None and method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    if passes < 1 or batch_size < 1:
        raise UserError("--passes and --batch-size must be at least 1")
    if progress_format not in PROGRESS_FORMATS:
        raise UserError(f"--progress takes {', '.join(PROGRESS_FORMATS)}, not {progress_format!r}")

    method = method or _default_method(model)
    if method == "model":
        from models.model_source import model_path

        model = model_path(model)  # before torch is imported: a missing model is reported at once

    from models.audio.loading import load_audio
    from tokenization import read_beatmap

    samples = load_audio(audio)
    reference = read_beatmap(beatmap) if beatmap is not None else None
    if method == "audio":
        red_lines, report, settings = _audio_timing(samples, audio)
    else:
        red_lines, report, settings = _model_timing(samples, model, profile, reference, passes, batch_size, seed,
                                                    quiet, progress_format)
    written = _write(audio, beatmap, reference, out, red_lines, settings)
    lines = [{"offset_ms": round(line.offset, 3), "bpm": round(line.bpm, 4), "ms_per_beat": line.ms_per_beat,
              "meter": line.meter} for line in red_lines]
    if as_json:
        typer.echo(json.dumps({"path": str(written), "method": method, **report, "timing_points": lines}))
        return
    for line in lines:
        typer.echo(f"{line['offset_ms']:10.1f} ms  {line['bpm']:8.3f} BPM  {line['meter']}/4", err=True)
    typer.echo(str(written))


def _default_method(model: str | None) -> str:
    """audio when the model would be the bundled starter (it cannot time real songs), else model."""
    from models.model_source import STARTER_DIR, chosen_model
    from tokenization.errors import MapperInputError

    try:
        chosen = chosen_model(model)
    except MapperInputError:  # no model anywhere: the audio method needs none
        return "audio"
    return "audio" if Path(chosen).resolve() == STARTER_DIR.resolve() else "model"


def _audio_timing(samples, audio: Path):
    from models.audio.loading import SAMPLE_RATE_HZ
    from models.audio.playback_delay import playback_delay_ms
    from models.timing.audio_timing import analyse_timing
    from profiles import load_profile

    found = analyse_timing(samples, SAMPLE_RATE_HZ, playback_delay_ms=playback_delay_ms(audio))
    if found is None:
        typer.echo("mapper: warning: no steady beat was heard, so the .osu has no timing points", err=True)
        return [], {"bpm": None, "offset_ms": None, "tempo_candidates": []}, load_profile("starter").tokenizer
    report = {"bpm": round(found.bpm, 4), "offset_ms": round(found.offset_ms, 3),
              "tempo_candidates": [{"bpm": round(c.bpm, 3), "score": round(c.score, 4)} for c in found.candidates]}
    return found.red_lines, report, load_profile("starter").tokenizer


def _model_timing(samples, model, profile, reference, passes, batch_size, seed, quiet, progress_format):
    import torch

    from mapperator_cli.progress import progress_reporter
    from models.audio.loading import audio_duration_ms
    from models.generation.timing_passes import run_timing_passes
    from models.loading import load_model, resolve_checkpoint
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization.prompt import Conditioning
    from tokenization.vocabulary import Vocabulary

    folder = resolve_checkpoint(model, 0)
    vocab = Vocabulary.load(folder)
    chosen = load_profile(profile) if profile else detect_profile(folder, vocab)
    if seed is not None:
        torch.manual_seed(seed)
    net = load_model(folder)
    conditioning = Conditioning(gamemode=reference.mode.value if reference else 0,
                                song_length_ms=audio_duration_ms(samples))
    with progress_reporter(progress_format, enabled=not quiet, unit="windows",
                           verb="finding") as progress, torch.inference_mode():
        result = run_timing_passes(net, vocab, chosen, samples, conditioning, passes=passes, batch_size=batch_size,
                                   seed=seed, progress=progress.update)
    if not result.red_lines:
        typer.echo("mapper: warning: the model found no beats, so the .osu has no timing points "
                   "(an untrained model, or not a timing model?)", err=True)
    return result.red_lines, {"passes": result.passes}, chosen.tokenizer


def _write(audio: Path, beatmap: Path | None, reference, out: Path | None, red_lines, settings) -> Path:
    from models.pipeline.request import fresh_path, safe_filename
    from models.postprocess.build import BeatmapInfo, build_beatmap
    from tokenization import write_beatmap

    reds = [line.to_timing_point() for line in red_lines]
    target = out or (beatmap.parent if beatmap is not None else Path("."))
    target.mkdir(parents=True, exist_ok=True)
    if reference is not None:
        reference.timing_points = sorted([tp for tp in reference.timing_points if not tp.uninherited] + reds,
                                         key=lambda tp: (tp.time, not tp.uninherited))
        reference.metadata.version = f"{reference.metadata.version} (mapper timing)"
        return write_beatmap(reference, fresh_path(target, beatmap.stem + " (mapper timing)"))
    info = BeatmapInfo(title=audio.stem, version="mapper timing", audio_filename=audio.name)
    bm, _ = build_beatmap({}, settings, info, reference_timing=reds)
    bm.timing_points = reds  # exactly what was found, no default red line
    return write_beatmap(bm, fresh_path(target, safe_filename(f"{audio.stem} (mapper timing)")))
