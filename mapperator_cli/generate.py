"""`mapper generate AUDIO`: a beatmap from a song with a Mapperatorinator-compatible model."""

from __future__ import annotations

from pathlib import Path

import typer

from mapperator_cli.errors import UserError

GAMEMODES = {"osu": 0, "taiko": 1, "catch": 2, "mania": 3}


def generate(
    audio: Path = typer.Argument(..., help="The song (mp3, ogg, wav, flac)."),
    model: str = typer.Option(..., "--model", help="Checkpoint folder (config.json, model.safetensors, tokenizer.json) "
                                                   "or a downloaded hub id."),
    profile: str | None = typer.Option(None, "--profile", help="Profile of the checkpoint (detected if left out)."),
    lora: Path | None = typer.Option(None, "--lora", help="LoRA adapter folder (from `mapper lora`), merged at load."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the new beatmap (created; nothing is overwritten)."),
    gamemode: str = typer.Option("osu", "--gamemode", help="osu, taiko, catch or mania."),
    difficulty: float | None = typer.Option(None, "--difficulty", help="Target star rating (unknown if left out)."),
    year: int | None = typer.Option(None, "--year", help="Mapping style of this year (2007-2023)."),
    descriptor: list[str] = typer.Option([], "--descriptor", help="Style descriptor (repeatable), e.g. 'jump aim'."),
    negative_descriptor: list[str] = typer.Option([], "--negative-descriptor", help="Descriptor to steer away from "
                                                  "(repeatable; needs --cfg-scale above 1)."),
    cfg_scale: float | None = typer.Option(None, "--cfg-scale", help="Classifier-free guidance strength: 1 is off, "
                                           "higher follows descriptors and mapper more (profile default)."),
    keycount: int = typer.Option(4, "--keycount", help="osu!mania key count."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed: the same seed gives the same map."),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the likeliest token (no sampling)."),
    temperature: float | None = typer.Option(None, "--temperature", help="Sampling temperature (profile default)."),
    top_p: float | None = typer.Option(None, "--top-p", help="Nucleus sampling threshold (profile default)."),
    beatmap: Path | None = typer.Option(None, "--beatmap", help="Reference .osu: fills in metadata, and its timing "
                                                                "with --in-context timing."),
    in_context: list[str] = typer.Option([], "--in-context", help="Take this from --beatmap instead of generating "
                                                                  "it: timing, kiai (repeatable)."),
    output_type: list[str] = typer.Option([], "--output-type", help="What to write (repeatable): timing, kiai, map, "
                                          "sv (profile default: all it makes)."),
    export_osz: bool = typer.Option(False, "--export-osz", help="Also write an .osz with the map and the song."),
    title: str | None = typer.Option(None, "--title", help="Song title for the metadata."),
    artist: str | None = typer.Option(None, "--artist", help="Artist for the metadata."),
    slider_multiplier: float = typer.Option(1.4, "--slider-multiplier", help="Base slider velocity."),
    circle_size: float = typer.Option(4.0, "--circle-size", help="Circle size (osu!, catch)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Generate a beatmap for AUDIO and print the path of the file written."""
    if not audio.is_file():
        raise UserError(f"{audio}: audio file not found")
    if gamemode not in GAMEMODES:
        raise UserError(f"unknown game mode {gamemode!r} (choose from {', '.join(GAMEMODES)})")
    contexts_from_reference = {c.lower() for c in in_context}
    if contexts_from_reference - {"timing", "kiai"}:
        raise UserError(f"--in-context takes timing or kiai, not {', '.join(sorted(contexts_from_reference))}")
    outputs = [o.lower() for o in output_type]
    if set(outputs) - {"timing", "kiai", "map", "sv"}:
        raise UserError(f"--output-type takes timing, kiai, map or sv, not {', '.join(sorted(set(outputs)))}")
    if cfg_scale is not None and cfg_scale < 1:
        raise UserError("--cfg-scale must be at least 1 (1 turns guidance off)")
    if negative_descriptor and (cfg_scale or 0) <= 1:
        raise UserError("--negative-descriptor needs --cfg-scale above 1")
    if contexts_from_reference and beatmap is None:
        raise UserError("--in-context needs a reference --beatmap")
    if beatmap is not None and not beatmap.is_file():
        raise UserError(f"{beatmap}: beatmap not found")
    if lora is not None and not (lora / "adapter_config.json").is_file():
        raise UserError(f"{lora}: not a LoRA adapter folder (no adapter_config.json)")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError("--top-p must be in (0, 1]")
    if temperature is not None and temperature < 0:
        raise UserError("--temperature must be >= 0")

    from mapperator_cli.progress import PassProgress
    from models.pipeline import GenerateRequest, run_generation

    request = GenerateRequest(
        audio=audio, model=model, profile=profile, out_dir=out, gamemode=GAMEMODES[gamemode], difficulty=difficulty,
        year=year, descriptors=list(descriptor), keycount=keycount, seed=seed, greedy=greedy,
        temperature=temperature, top_p=top_p, reference=beatmap, reference_timing="timing" in contexts_from_reference,
        lora=lora, cfg_scale=cfg_scale, negative_descriptors=list(negative_descriptor),
        reference_kiai="kiai" in contexts_from_reference, output_types=outputs, export_osz=export_osz,
        title=title, artist=artist, slider_multiplier=slider_multiplier, circle_size=circle_size)
    with PassProgress(enabled=not quiet) as progress:
        result = run_generation(request, progress=progress.update)
    for warning in result.warnings:
        typer.echo(f"mapper: warning: {warning}", err=True)
    for path in result.written:
        typer.echo(str(path))

