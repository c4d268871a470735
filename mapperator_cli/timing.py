"""`mapper timing AUDIO`: BPM, offset and red lines by multi-pass voting ("super timing")."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError


def timing(
    audio: Path = typer.Argument(..., help="The song (mp3, ogg, wav, flac)."),
    model: str | None = typer.Option(None, "--model", show_default=False, help="Model: a checkpoint folder, a Hugging Face hub id or v29/v30/v31/v32 (downloaded once, then cached); default: $MAPPER_MODEL, else the bundled starter model."),
    profile: str | None = typer.Option(None, "--profile", help="Profile of the checkpoint (detected if left out)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the new .osu (default: --beatmap's folder, else .)."),
    beatmap: Path | None = typer.Option(None, "--beatmap", help="Write a new copy of this map with the new timing "
                                                                "(its green lines are kept; the file is not changed)."),
    passes: int = typer.Option(20, "--passes", help="Timing passes to vote over (1 = a single plain pass)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Windows decoded together."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed for the pass offsets."),
    as_json: bool = typer.Option(False, "--json", help="Print the timing points and the path as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
) -> None:
    """Find the timing of AUDIO and write it as a timing-only .osu (or into a copy of --beatmap)."""
    if not audio.is_file():
        raise UserError(f"{audio}: audio file not found")
    if beatmap is not None and not beatmap.is_file():
        raise UserError(f"{beatmap}: beatmap not found")
    if passes < 1 or batch_size < 1:
        raise UserError("--passes and --batch-size must be at least 1")

    from models.model_source import model_path

    model = model_path(model)  # before torch is imported: a missing model is reported at once

    import torch

    from mapperator_cli.progress import PassProgress
    from models.audio.loading import audio_duration_ms, load_audio
    from models.generation.timing_passes import run_timing_passes
    from models.loading import load_model, resolve_checkpoint
    from models.pipeline.request import fresh_path, safe_filename
    from models.postprocess.build import BeatmapInfo, build_beatmap
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization import read_beatmap, write_beatmap
    from tokenization.prompt import Conditioning
    from tokenization.vocabulary import Vocabulary

    samples = load_audio(audio)
    folder = resolve_checkpoint(model, 0)
    vocab = Vocabulary.load(folder)
    chosen = load_profile(profile) if profile else detect_profile(folder, vocab)
    reference = read_beatmap(beatmap) if beatmap is not None else None
    if seed is not None:
        torch.manual_seed(seed)
    net = load_model(folder)
    conditioning = Conditioning(gamemode=reference.mode.value if reference else 0,
                                song_length_ms=audio_duration_ms(samples))
    with PassProgress(enabled=not quiet, unit="windows", verb="finding") as progress, torch.inference_mode():
        result = run_timing_passes(net, vocab, chosen, samples, conditioning, passes=passes, batch_size=batch_size,
                                   seed=seed, progress=progress.update)
    if not result.red_lines:
        typer.echo("mapper: warning: the model found no beats, so the .osu has no timing points "
                   "(an untrained model, or not a timing model?)", err=True)
    reds = [line.to_timing_point() for line in result.red_lines]
    target = out or (beatmap.parent if beatmap is not None else Path("."))
    target.mkdir(parents=True, exist_ok=True)
    if reference is not None:
        reference.timing_points = sorted([tp for tp in reference.timing_points if not tp.uninherited] + reds,
                                         key=lambda tp: (tp.time, not tp.uninherited))
        reference.metadata.version = f"{reference.metadata.version} (mapper timing)"
        written = write_beatmap(reference, fresh_path(target, beatmap.stem + " (mapper timing)"))
    else:
        info = BeatmapInfo(title=audio.stem, version="mapper timing", audio_filename=audio.name)
        bm, _ = build_beatmap({}, chosen.tokenizer, info, reference_timing=reds)
        bm.timing_points = reds  # exactly what was found, no default red line
        written = write_beatmap(bm, fresh_path(target, safe_filename(f"{audio.stem} (mapper timing)")))
    lines = [{"offset_ms": round(line.offset, 3), "bpm": round(line.bpm, 4), "ms_per_beat": line.ms_per_beat,
              "meter": line.meter} for line in result.red_lines]
    if as_json:
        typer.echo(json.dumps({"path": str(written), "passes": result.passes, "timing_points": lines}))
        return
    for line in lines:
        typer.echo(f"{line['offset_ms']:10.1f} ms  {line['bpm']:8.3f} BPM  {line['meter']}/4", err=True)
    typer.echo(str(written))
