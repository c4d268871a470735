"""`mapper dataset ...`: look at how models see beatmaps (and, later, build datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError

app = typer.Typer(help="Inspect how a model tokenizes beatmaps.", no_args_is_help=True, rich_markup_mode=None)

CONTEXTS = ("map", "timing", "kiai", "sv", "no_hs")


@app.command("tokens")
def tokens(
    beatmap: Path = typer.Argument(..., help="The .osu file to tokenize."),
    model: Path = typer.Option(..., "--model", help="Checkpoint folder holding tokenizer.json (and config.json)."),
    start: float = typer.Option(0.0, "--start", help="Window start in ms."),
    context: str = typer.Option("map", "--context", help="Which context: " + ", ".join(CONTEXTS) + "."),
    profile: str | None = typer.Option(None, "--profile", help="Profile of the checkpoint (detected if left out)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {events: [[type, value]...], token_ids: [...]}."),
) -> None:
    """Show the events and token ids a checkpoint sees for one window of a beatmap."""
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization import read_beatmap
    from tokenization.events import ContextType
    from tokenization.inspect import window_tokens
    from tokenization.vocabulary import Vocabulary

    if context not in CONTEXTS:
        raise UserError(f"unknown context {context!r} (choose from {', '.join(CONTEXTS)})")
    if not model.is_dir():
        raise UserError(f"{model}: not a checkpoint folder")
    vocab = Vocabulary.load(model)
    settings = (load_profile(profile) if profile else detect_profile(model, vocab)).tokenizer
    result = window_tokens(read_beatmap(beatmap), vocab, settings, start_ms=start, context=ContextType(context))
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{context} window {result['window_start_ms']}-{result['window_end_ms']:.0f} ms: "
               f"{len(result['token_ids'])} tokens")
    for (kind, value), token in zip(result["events"], result["token_ids"]):
        typer.echo(f"{token:6d}  {kind}{value}")
