"""`mapper eval`: how good a generated map is, against the song's real map or on its own; or a model's
figures over a folder of songs with real maps."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError
from profiles.limits import STARS

SHOWN_PROBLEMS = 20
BASELINES = ("beats", "onsets")


def eval_command(
    target: Path = typer.Argument(..., help="The generated .osu; with --model, a song folder or dataset folder.",
                                  show_default=False),
    reference: Path | None = typer.Option(None, "--reference", help="The song's real .osu to compare against."),
    target_stars: float | None = typer.Option(None, "--target-stars",
                                              help="The star rating asked for (default: the one the generated "
                                                   "map's tags record)."),
    model: str | None = typer.Option(None, "--model", help="Generate with this checkpoint for every song in TARGET "
                                     "that has a real map, and evaluate each against it."),
    baseline: str | None = typer.Option(None, "--baseline", help="Instead of --model: measure a baseline over "
                                        "TARGET's songs: 'beats' (one object on every detected beat) or 'onsets' "
                                        "(the audio's timing and its strongest onsets at the star rating, no model)."),
    difficulty: float | None = typer.Option(None, "--difficulty", help="With --model or --baseline: one map per "
                                            "song at this star rating, measured against the song's real map "
                                            "nearest to it (default: one map per real map, at its own rating)."),
    profile: str | None = typer.Option(None, "--profile", help="With --model: its profile (detected if left out)."),
    limit: int | None = typer.Option(None, "--limit", help="With --model: evaluate at most this many real maps."),
    seed: int = typer.Option(0, "--seed", help="With --model: the sampling seed of every generation."),
    device: str = typer.Option("auto", "--device", help="With --model: auto, cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr."),
) -> None:
    """Measure a generated map against the song's real one (timing, rhythm, difficulty, modder problems).

    Without --reference: the map's own timing, star rating and problems. With --model: a model's
    figures over every song with a real map in TARGET, per song and as median and spread."""
    if baseline is not None:
        if baseline not in BASELINES:
            raise UserError(f"--baseline {baseline!r}: the baselines are {', '.join(BASELINES)}")
        if model is not None:
            raise UserError("--baseline and --model are separate runs: give one of them")
    if model is not None or baseline is not None:
        _eval_model(target, model, profile, limit, seed, device, as_json, quiet, reference, target_stars,
                    baseline=baseline, difficulty=difficulty)
        return
    for flag, value in (("--limit", limit), ("--profile", profile), ("--difficulty", difficulty)):
        if value is not None:
            raise UserError(f"{flag} only applies with --model")
    generated = _read(target, "generated map")
    real = _read(reference, "reference") if reference is not None else None
    if target_stars is not None and (problem := STARS.problem(target_stars)) is not None:
        raise UserError(f"--target-stars {problem}")  # the range of generate's --difficulty

    from models.evaluation import evaluate

    report = evaluate(generated, real, target_stars)
    if as_json:
        typer.echo(json.dumps({"generated": str(target), "reference": str(reference) if reference else None,
                               **report}, indent=2))
        return
    from mapperator_cli.eval_tables import print_report

    print_report(report, target.name, reference.name if reference else None, SHOWN_PROBLEMS)


def _read(path: Path, what: str):
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    if path.suffix.lower() != ".osu":
        raise UserError(f"{path}: the {what} must be an .osu file")
    from tokenization import read_beatmap

    return read_beatmap(path)


def _eval_model(root: Path, model: str | None, profile, limit, seed, device, as_json, quiet, reference, target_stars,
                *, baseline: str | None = "beats", difficulty: float | None = None):
    if model is None and profile is not None:
        raise UserError("--profile only applies with --model")
    if reference is not None or target_stars is not None:
        raise UserError("with --model or --baseline the real maps in the folder are the references: drop --reference "
                        "and --target-stars")
    if not root.is_dir():
        raise UserError(f"{root}: with --model or --baseline, give a song folder or a dataset folder")
    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1")
    if difficulty is not None and not 0 <= difficulty <= 20:
        raise UserError("--difficulty must be between 0 and 20")
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device takes auto, cpu or cuda, not {device!r}")

    from models.evaluation import aggregate
    from models.evaluation.songs import evaluate_baseline, evaluate_model, find_cases, nearest_cases

    cases = find_cases(root)
    if difficulty is not None:
        cases = nearest_cases(cases, difficulty)
    cases = cases[:limit]
    if not cases:
        raise UserError(f"{root}: no .osu with its audio beside it (a real map to compare against)")
    from mapperator_cli.progress import PassProgress

    song = {"label": ""}

    def announce(index, total, case):
        song["label"] = f"[{index + 1}/{total}] {case.beatmap.stem[:40]}:"

    with PassProgress(enabled=not quiet) as progress:
        if model is None:  # a baseline: one step per song
            found = evaluate_baseline(cases, on_song=lambda index, total, case: progress.update(
                f"{baseline} baseline: {case.beatmap.stem[:40]}", index, total), kind=baseline, difficulty=difficulty)
        else:
            # one bar per song and pass, so a pass's bar is not reused with another song's total
            found = evaluate_model(model, cases, profile=profile, seed=seed, device=device, on_song=announce,
                                   difficulty=difficulty,
                                   progress=lambda name, done, total: progress.update(f"{song['label']} {name}",
                                                                                      done, total))
    for skipped in found.skipped:
        typer.echo(f"mapper: warning: skipped {skipped['reference']}: {skipped['reason']}", err=True)
    if not found.results:
        raise UserError(f"the {'model' if model else 'baseline'} could not map any of the songs")
    summary = aggregate([r["report"] for r in found.results])
    if as_json:
        typer.echo(json.dumps({"model": model, "baseline": None if model else baseline, "difficulty": difficulty,
                               "songs": found.results,
                               "skipped": found.skipped, "aggregate": summary}, indent=2))
        return
    from mapperator_cli.eval_tables import print_model_results

    print_model_results(found.results, summary)

