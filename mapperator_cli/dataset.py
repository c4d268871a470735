"""`mapper dataset ...`: build MMRS training datasets, summarise and check them, and show how a model tokenizes a beatmap."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError

app = typer.Typer(help="Build, summarise and check training datasets; show how a model tokenizes beatmaps.",
                  no_args_is_help=True, rich_markup_mode=None)

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


@app.command("build")
def build(
    sources: list[Path] = typer.Argument(..., help=".osz files, or folders holding .osz files or .osu files with their audio."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (created; an earlier build there is continued)."),
    workers: int = typer.Option(0, "--workers", help="Processes reading sources in parallel (0 or 1: none; "
                                "the result is the same either way)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
) -> None:
    """Build (or continue) an MMRS dataset: metadata.parquet plus data/<set>/ audio and .osu files."""
    from mapperator_cli.progress import PassProgress
    from training import build_dataset

    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        raise UserError(f"{missing[0]}: no such file or folder")
    if workers < 0:
        raise UserError("--workers must be 0 or more")
    with PassProgress(enabled=not quiet, unit="sources", verb="") as progress:
        report = build_dataset(sources, out, progress=progress.update, workers=workers)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    typer.echo(f"{report.out_dir}: {report.total_beatmaps} beatmaps in {report.total_sets} sets "
               f"(added {report.beatmaps_added} beatmaps, {report.sources_already_built} sources already built, "
               f"{report.seconds:.1f} s)")
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)} files:", err=True)
        for item in report.skipped:
            typer.echo(f"  {item.path}: {item.reason}", err=True)


@app.command("info")
def info(
    dataset: Path = typer.Argument(..., help="Dataset folder (holding metadata.parquet)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a dataset: beatmaps per mode, star-rating histogram, audio minutes, mappers, years."""
    from training import dataset_info

    if not dataset.is_dir():
        raise UserError(f"{dataset}: not a dataset folder")
    summary = dataset_info(dataset)
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
        return
    typer.echo(f"{summary.root}: {summary.beatmaps} beatmaps in {summary.sets} sets, "
               f"{summary.audio_files} audio files ({summary.audio_minutes:.1f} min)")
    typer.echo("per mode: " + ", ".join(f"{mode} {count}" for mode, count in summary.maps_per_mode.items()))
    peak = max((b.count for b in summary.star_histogram), default=0) or 1
    typer.echo("star rating:")
    for star_bin in summary.star_histogram:
        typer.echo(f"  {star_bin.label:>9s} {star_bin.count:5d} {'#' * round(30 * star_bin.count / peak)}")
    if summary.star_rating_unknown:
        typer.echo(f"  {'unknown':>9s} {summary.star_rating_unknown:5d}")
    if summary.years:
        typer.echo("years: " + ", ".join(f"{year} {count}" for year, count in summary.years.items()))


@app.command("check")
def check(
    dataset: Path = typer.Argument(..., help="Dataset folder (holding metadata.parquet)."),
    fast: bool = typer.Option(False, "--fast", help="Skip parsing every .osu file."),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
) -> None:
    """Validate a dataset and name every problem; exit 1 when there is any."""
    from mapperator_cli.progress import PassProgress
    from training import check_dataset

    if not dataset.is_dir():
        raise UserError(f"{dataset}: not a dataset folder")
    with PassProgress(enabled=not quiet, unit="rows", verb="") as progress:
        problems = check_dataset(dataset, parse_beatmaps=not fast, progress=progress.update)
    if as_json:
        typer.echo(json.dumps([{"code": p.code, "message": p.message, "path": p.path} for p in problems]))
    else:
        for problem in problems:
            typer.echo(f"{problem.code}: {problem.message}")
        typer.echo(f"{dataset}: {'no problems' if not problems else f'{len(problems)} problems'}")
    if problems:
        raise typer.Exit(1)


@app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Dataset folder (created; an interrupted run there is continued)."),
    songs: int = typer.Option(..., "--songs", help="How many songs (each gets 8 maps: 4 modes, each Full and Melody or Beats)."),
    seed: int = typer.Option(0, "--seed", help="Recipe seed: the same seed and options give the same dataset."),
    seconds: float = typer.Option(90.0, "--seconds", help="Longest song in seconds (cut at a bar line)."),
    source: list[str] = typer.Option([], "--source", help="music21 corpus folder to draw pieces from "
                                     "(repeatable; default: all public-domain ones)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
) -> None:
    """Synthesize a redistributable training dataset: music21 scores rendered with a General MIDI
    soundfont, maps written from the exact note times (recipe in synth.json)."""
    from mapperator_cli.progress import PassProgress
    from training.synth_dataset import Recipe, synthesize_dataset

    recipe = Recipe(songs=songs, seed=seed, max_seconds=seconds, sources=tuple(source))
    with PassProgress(enabled=not quiet, unit="", verb="") as progress:
        report = synthesize_dataset(recipe, out, progress=progress.update)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        typer.echo(f"{report.out_dir}: {report.beatmaps} beatmaps from {report.songs} songs "
                   f"({report.audio_seconds / 60:.1f} min of audio, {report.songs_synthesized} synthesized now, "
                   f"{report.seconds:.1f} s)")
    for item in report.skipped_maps:
        typer.echo(f"skipped map {item}", err=True)


@app.command("fof")
def fof(
    src: Path = typer.Option(..., "--src", help="Folder holding Frets on Fire songs (song.ini, notes.mid, "
                             "song.ogg), e.g. Debian's /usr/share/games/fretsonfire/data/songs."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (created; an earlier build there, e.g. a "
                             "synthetic one, is continued)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
) -> None:
    """Add Frets on Fire songs to a dataset: the hardest guitar chart and the MIDI tempo map become mania
    (5 keys) and taiko maps with exact timing; the stems are mixed into one track."""
    from mapperator_cli.progress import PassProgress
    from training.fof_songs import build_fof_dataset

    if not src.is_dir():
        raise UserError(f"{src}: not a folder")
    with PassProgress(enabled=not quiet, unit="", verb="") as progress:
        converted, skipped, report = build_fof_dataset(src, out, progress=progress.update)
    if as_json:
        typer.echo(json.dumps({"songs": converted, "skipped_songs": skipped, **report.to_dict()}))
    else:
        typer.echo(f"{report.out_dir}: {report.total_beatmaps} beatmaps in {report.total_sets} sets "
                   f"(added {report.beatmaps_added} beatmaps from {converted} Frets on Fire songs, {report.seconds:.1f} s)")
    for item in skipped:
        typer.echo(f"skipped song {item}", err=True)
    for item in report.skipped:
        typer.echo(f"skipped map {item.path}: {item.reason}", err=True)
