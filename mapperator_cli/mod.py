"""`mapper mod MAP.osu`: AI modding — where the model is surprised by the map, ranked."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError
from mapperator_cli.generate_options import PROGRESS_FORMATS

SEVERITY_STYLE = {"problem": "bold red", "warning": "bold yellow", "minor": ""}


def mod(
    beatmap: Path = typer.Argument(..., help="The .osu file to mod."),
    model: str | None = typer.Option(None, "--model", show_default=False, help="Model: a checkpoint folder, a Hugging Face hub id or v29/v30/v31/v32 (downloaded once, then cached); default: $MAPPER_MODEL, else the bundled starter model."),
    profile: str | None = typer.Option(None, "--profile", help="Profile of the checkpoint (detected if left out)."),
    audio: Path | None = typer.Option(None, "--audio", help="The song (default: the map's AudioFilename beside it)."),
    threshold: float = typer.Option(20.0, "--threshold", help="Relative surprisal a token needs to be reported."),
    top: int = typer.Option(50, "--top", help="Show at most this many suggestions (0: all)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Windows scored together."),
    as_json: bool = typer.Option(False, "--json", help="Print the suggestions as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
    progress_format: str = typer.Option("bar", "--progress", help="Progress on stderr: bar, or json (one JSON "
                                        "line per update: pass, done, total)."),
) -> None:
    """Suggest where a beatmap may need work: the model's surprises, ranked, with osu! editor timestamps.

    The score is relative surprisal / 10: above 100 is likely an issue, below 10 likely a matter of taste."""
    if not beatmap.is_file():
        raise UserError(f"{beatmap}: beatmap not found")
    if threshold < 0 or top < 0 or batch_size < 1:
        raise UserError("--threshold and --top must be >= 0 and --batch-size at least 1")
    if audio is not None and audio.is_dir():  # the user's own arguments first, then the model's
        raise UserError(f"{audio}: is a folder, not an audio file")

    if progress_format not in PROGRESS_FORMATS:
        raise UserError(f"--progress takes {', '.join(PROGRESS_FORMATS)}, not {progress_format!r}")
    from models.model_source import model_path

    model = model_path(model)  # before torch is imported: a missing model is reported at once

    import torch

    from mapperator_cli.progress import progress_reporter
    from models.audio.loading import audio_duration_ms, load_audio
    from models.loading import load_model, resolve_checkpoint
    from models.pipeline.modding import score_beatmap, suggestions
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization import read_beatmap
    from tokenization.prompt import Conditioning
    from tokenization.vocabulary import Vocabulary

    bm = read_beatmap(beatmap)
    song = audio or beatmap.parent / bm.general.audio_filename
    if song.is_dir():
        raise UserError(f"{song}: is a folder, not an audio file")
    if audio is not None and not song.is_file():
        raise UserError(f"{song}: audio file not found")
    if not song.is_file():
        raise UserError(f"{song}: the map's audio is not beside it; pass --audio")
    samples = load_audio(song)
    folder = resolve_checkpoint(model, bm.mode.value)
    vocab = Vocabulary.load(folder)
    chosen = load_profile(profile) if profile else detect_profile(folder, vocab)
    if bm.mode.value not in chosen.tokenizer.gamemodes:
        raise UserError(f"the {chosen.name} model does not know {bm.mode.name.lower()} maps")
    net = load_model(folder)
    d = bm.difficulty
    conditioning = Conditioning(gamemode=bm.mode.value, song_length_ms=audio_duration_ms(samples),
                                slider_multiplier=d.slider_multiplier, circle_size=d.circle_size,
                                keycount=int(d.circle_size))
    with progress_reporter(progress_format, enabled=not quiet, unit="windows", verb="") as progress, torch.inference_mode():
        scored = score_beatmap(net, vocab, chosen, bm, samples, conditioning, batch_size=batch_size,
                               progress=progress.update)
    found = suggestions(scored, bm, threshold)
    shown = found[:top] if top else found
    if as_json:
        typer.echo(json.dumps({"beatmap": str(beatmap), "suggestions": [s.to_dict() for s in shown],
                               "total": len(found)}))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print("score = relative surprisal / 10: above 100 is likely an issue, below 10 likely subjective",
                  highlight=False)
    table = Table(title=f"{len(found)} suggestions" + (f" (top {len(shown)})" if len(shown) < len(found) else ""))
    for column in ("score", "severity", "time", "category", "object", "suggestion"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for s in shown:
        style = SEVERITY_STYLE[s.severity]
        table.add_row(f"{s.score:.1f}", f"[{style}]{s.severity}[/]" if style else s.severity,
                      f"[green][link={s.link}]{s.editor_text}[/link][/green]", s.category, s.label, s.message)
    console.print(table)
