"""`mapper convert`: the published osu-diffusion pickles to a safetensors model folder."""

from __future__ import annotations

from pathlib import Path

import typer

from mapperator_cli.errors import UserError


def convert(
    source: Path = typer.Argument(..., help="Folder with model_ema.pkl (and tokenizer.pkl), or the weights file."),
    out: Path = typer.Option(..., "--out", help="New model folder (config.json, model.safetensors, tokenizer.json)."),
    num_heads: int | None = typer.Option(None, "--num-heads", help="Attention heads, if the width is not a DiT size."),
) -> None:
    """Convert an osu-diffusion checkpoint to safetensors; pickles are read weights-only, never run."""
    if not source.exists():
        raise UserError(f"{source}: not found")
    from diffusion.convert import convert as run

    typer.echo(str(run(source, out, num_heads)))
