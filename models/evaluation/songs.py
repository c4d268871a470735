"""`mapper eval --model`: generate for every song that has a real map and measure each against it.

The real map supplies the mode, key count, circle size, slider multiplier and star rating asked for;
the generated files go to a temporary folder that is removed afterwards, so nothing is written
beside the songs."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.evaluation.report import evaluate
from tokenization.errors import MapperInputError

MIN_REFERENCE_OBJECTS = 20
# Joke maps rate 50-190 stars (the corpus's README asks to leave them out of rating statistics): no map rated
# above this is "the real map nearest" to a requested rating.
MAX_REFERENCE_STARS = 20.0


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


def nearest_cases(cases: list[SongCase], stars: float) -> list[SongCase]:
    """One case per song (audio file): its real map nearest in star rating to `stars`, among those with at
    least MIN_REFERENCE_OBJECTS objects and rated at most MAX_REFERENCE_STARS."""
    from models.evaluation.difficulty import star_rating
    from tokenization import read_beatmap

    best: dict[Path, tuple[float, SongCase]] = {}
    for case in cases:
        real = read_beatmap(case.beatmap)
        if len(real.hit_objects) < MIN_REFERENCE_OBJECTS:
            continue  # a test file with a song but hardly a map: no rhythm to measure against
        rating = star_rating(real)
        if rating is not None and rating > MAX_REFERENCE_STARS:
            continue  # a joke map: no measure of what a map at a real rating should hold
        distance = abs(rating - stars) if rating is not None else float("inf")
        key = case.audio.resolve()
        if key not in best or distance < best[key][0]:
            best[key] = (distance, case)
    return [case for _, case in sorted(best.values(), key=lambda item: str(item[1].beatmap))]


def evaluate_model(model: str, cases: list[SongCase], *, profile: str | None = None, seed: int | None = 0,
                   device: str = "cpu", progress: Callable[[str, int, int], None] | None = None,
                   on_song: Callable[[int, int, SongCase], None] | None = None,
                   difficulty: float | None = None) -> ModelEvaluation:
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
            stars = star_rating(real) if difficulty is None else difficulty
            mania = real.mode is GameMode.MANIA
            request = GenerateRequest(
                audio=case.audio, model=model, profile=profile, out_dir=Path(scratch) / str(index),
                gamemode=int(real.mode), difficulty=round(stars, 2) if stars is not None else None,
                keycount=real.key_count if mania else 4, seed=seed, device=device,
                slider_multiplier=real.difficulty.slider_multiplier,
                circle_size=None if mania else real.difficulty.circle_size)
            started = time.perf_counter()
            try:
                result = run_generation(request, progress=progress)
            except MapperInputError as exc:  # this model cannot map this song (its mode, say): go on
                out.skipped.append({"reference": str(case.beatmap), "reason": str(exc)})
                continue
            report = evaluate(read_beatmap(result.path), real, target_stars=request.difficulty)
            out.results.append({"audio": str(case.audio), "reference": str(case.beatmap), "report": report,
                                "warnings": result.warnings, "seconds": round(time.perf_counter() - started, 1)})
    return out


def evaluate_baseline(cases: list[SongCase],
                      on_song: Callable[[int, int, SongCase], None] | None = None, *, kind: str = "beats",
                      difficulty: float | None = None) -> ModelEvaluation:
    """A baseline for every case, measured exactly as a model's maps are: `beats` (`beat_baseline`, one object
    on every detected beat) or `onsets` (`onset_baseline`: the audio timing and the strongest rhythm candidates
    at the star rating asked, or the real map's, written as plain objects: what the audio gives without a model)."""
    from models.evaluation.beat_baseline import baseline_for
    from models.evaluation.difficulty import star_rating
    from models.evaluation.onset_baseline import onset_baseline_for
    from tokenization import read_beatmap

    out = ModelEvaluation()
    for index, case in enumerate(cases):
        if on_song is not None:
            on_song(index, len(cases), case)
        real = read_beatmap(case.beatmap)
        stars = (star_rating(real) if difficulty is None else difficulty) if kind == "onsets" else None
        try:
            generated = baseline_for(case.audio, real) if kind == "beats" else onset_baseline_for(
                case.audio, real, stars)
        except MapperInputError as exc:  # unreadable audio: this song is skipped with the reason
            out.skipped.append({"reference": str(case.beatmap), "reason": str(exc)})
            continue
        if generated is None:
            out.skipped.append({"reference": str(case.beatmap), "reason": "no beat found (silent audio)"})
            continue
        report = evaluate(generated, real, target_stars=stars)
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
