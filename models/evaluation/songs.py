"""`mapper eval --model`: generate for every song that has a real map and measure each against it.

The real map supplies the mode, key count, circle size, slider multiplier and star rating asked for;
the generated files go to a temporary folder that is removed afterwards, so nothing is written
beside the songs."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.evaluation.report import evaluate
from tokenization.errors import MapperInputError


@dataclass
class SongCase:
    audio: Path
    beatmap: Path


@dataclass
class ModelEvaluation:
    results: list[dict] = field(default_factory=list)  # {"audio", "reference", "report", "warnings"}
    skipped: list[dict] = field(default_factory=list)  # {"reference", "reason"}


def find_cases(root: Path) -> list[SongCase]:
    """Every real .osu under `root` (a song folder, a folder of them, or an MMRS dataset) with its audio beside it."""
    from tokenization import read_beatmap

    if root.is_file():
        raise MapperInputError(f"{root}: give a song folder or a dataset folder, not a file")
    cases = []
    for path in sorted(root.rglob("*.osu")):
        try:
            beatmap = read_beatmap(path)
        except MapperInputError:
            continue  # not a readable beatmap: not a case
        if "ai-generated" in beatmap.metadata.tags:
            continue  # a generated map is no reference
        audio_name = beatmap.general.audio_filename
        audio = path.parent / audio_name
        if audio_name and audio.is_file():
            cases.append(SongCase(audio, path))
    return cases


def evaluate_model(model: str, cases: list[SongCase], *, profile: str | None = None, seed: int | None = 0,
                   device: str = "cpu", progress: Callable[[str, int, int], None] | None = None,
                   on_song: Callable[[int, int, SongCase], None] | None = None) -> ModelEvaluation:
    from models.evaluation.difficulty import star_rating
    from models.pipeline.request import GenerateRequest
    from models.pipeline.run import run_generation
    from tokenization import read_beatmap
    from tokenization.beatmap import GameMode

    out = ModelEvaluation()
    _check_model(model, {int(read_beatmap(case.beatmap).mode) for case in cases})
    with tempfile.TemporaryDirectory(prefix="mapper-eval-") as scratch:
        for index, case in enumerate(cases):
            if on_song is not None:
                on_song(index, len(cases), case)
            real = read_beatmap(case.beatmap)
            stars = star_rating(real)
            mania = real.mode is GameMode.MANIA
            request = GenerateRequest(
                audio=case.audio, model=model, profile=profile, out_dir=Path(scratch) / str(index),
                gamemode=int(real.mode), difficulty=round(stars, 2) if stars is not None else None,
                keycount=real.key_count if mania else 4, seed=seed, device=device,
                slider_multiplier=real.difficulty.slider_multiplier,
                circle_size=None if mania else real.difficulty.circle_size)
            try:
                result = run_generation(request, progress=progress)
            except MapperInputError as exc:  # this model cannot map this song (its mode, say): go on
                out.skipped.append({"reference": str(case.beatmap), "reason": str(exc)})
                continue
            report = evaluate(read_beatmap(result.path), real, target_stars=request.difficulty)
            out.results.append({"audio": str(case.audio), "reference": str(case.beatmap), "report": report,
                                "warnings": result.warnings})
    return out


def evaluate_baseline(cases: list[SongCase],
                      on_song: Callable[[int, int, SongCase], None] | None = None) -> ModelEvaluation:
    """The beat-only baseline (`beat_baseline`) for every case, measured exactly as a model's maps are."""
    from models.evaluation.beat_baseline import baseline_for
    from tokenization import read_beatmap

    out = ModelEvaluation()
    for index, case in enumerate(cases):
        if on_song is not None:
            on_song(index, len(cases), case)
        real = read_beatmap(case.beatmap)
        try:
            generated = baseline_for(case.audio, real)
        except MapperInputError as exc:  # unreadable audio: this song is skipped with the reason
            out.skipped.append({"reference": str(case.beatmap), "reason": str(exc)})
            continue
        if generated is None:
            out.skipped.append({"reference": str(case.beatmap), "reason": "no beat found (silent audio)"})
            continue
        report = evaluate(generated, real, target_stars=None)
        out.results.append({"audio": str(case.audio), "reference": str(case.beatmap), "report": report,
                            "warnings": []})
    return out


def _check_model(model: str, modes: set[int]) -> None:
    """Fail at once on a model that is not there, rather than once per song; a model set that lacks
    some modes' sub-models still maps the others (those songs are skipped with the reason)."""
    from models.loading import resolve_checkpoint

    errors = []
    for mode in sorted(modes):
        try:
            resolve_checkpoint(model, mode)
        except MapperInputError as exc:
            errors.append(exc)
    if errors and len(errors) == len(modes):
        raise errors[0]
