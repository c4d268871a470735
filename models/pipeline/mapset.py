"""`mapper generate SONG --difficulty 2,3.5,5`: a whole mapset in one run.

One timing (and kiai) for every difficulty, found once as a one-difficulty run would find it (super
timing, a given tempo or the reference's timing included), so the difficulties share their red
lines as a ranked mapset must; then the remaining passes decode all difficulties together, one
batch row each (models.generation.difficulty_batch). The files go into a new mapset folder with a copy of the
song, one difficulty each, named by the star rating asked for; `--export-osz` packs them. A model that cannot hear
the rhythm makes each difficulty in a run of its own (`_heard_mapset`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass
class MapsetResult:
    folder: Path
    paths: list[Path]  # one .osu per difficulty, in the order asked
    tokens: int
    warnings: list[str]
    written: list[Path] = field(default_factory=list)  # every file, the .osu files first


def run_mapset(request, difficulties: list[float],
               progress: Callable[..., None] | None = None, *, token_progress: bool = False) -> MapsetResult:
    """One difficulty per star rating, sharing one timing, written as a new mapset folder; `progress`
    as `run_generation` takes it (with `token_progress`, the tokens so far too)."""
    from models.generation.audio_rhythm import uses_audio_rhythm
    from models.pipeline.job import GenerationJob, checkpoint_of
    from models.pipeline.run import counting_tokens

    asked = replace(request, mapset=list(difficulties), difficulty=None).verify()
    if uses_audio_rhythm(asked.rhythm, checkpoint_of(asked)[2]):  # before any audio is read: decided by the model
        return _heard_mapset(request, difficulties, progress, token_progress)
    job = GenerationJob(asked, counting_tokens(progress, lambda: job) if token_progress else progress)
    beatmaps = job.run()
    return _write_mapset(job.request, beatmaps, job.reference, job.generator.generated_tokens, job.warnings)


def _heard_mapset(request, difficulties: list[float], progress, token_progress: bool) -> MapsetResult:
    """A mapset for a model that cannot hear the rhythm (the starter, `--rhythm audio`): each difficulty a run of its
    own, its objects held to as many of the heard candidates as make its rating, as one difficulty is made (the
    mapset's shared batch would leave every difficulty the model's own rhythm: the starter's 2-star file of the
    README clip rated 5.89, its 4-star one 1.93). The timing is heard the same in every run (the same analysis
    of the same song), so the difficulties share their red lines all the same."""
    from models.pipeline.job import GenerationJob
    from models.pipeline.run import counting_tokens

    beatmaps, tokens, warnings, current = [], 0, [], {}
    report = counting_tokens(progress, lambda: current.get("job")) if token_progress else progress
    for stars in difficulties:
        asked = replace(request, mapset=[], difficulty=stars, version=f"{stars:g} stars (AI)")
        job = current["job"] = GenerationJob(asked, report)
        [(_, beatmap)] = job.run()
        beatmaps.append((stars, beatmap))
        tokens += job.generator.generated_tokens
        warnings += [f"{stars:g} stars: {w}" for w in job.warnings]
    return _write_mapset(job.request, beatmaps, job.reference, tokens, warnings)


def _write_mapset(request, beatmaps, reference, tokens: int, warnings: list[str]) -> MapsetResult:
    from models.pipeline.output import audio_member_name, write_output
    from models.pipeline.request import safe_filename
    from tokenization.atomic_files import write_atomic

    m = beatmaps[0][1].metadata
    folder = _fresh_folder(request.out_dir, safe_filename(f"{m.artist} - {m.title} ({m.creator})"))
    song = write_atomic(folder / audio_member_name(request.audio), lambda temp: shutil.copyfile(request.audio, temp))
    paths = [write_output(replace(request, out_dir=folder, export_osz=False), beatmap, reference, 0, []).path
             for _, beatmap in beatmaps]
    written = list(paths) + [song]
    if request.export_osz:
        from tokenization.osz import write_osz

        members = {p.name: p for p in paths} | {song.name: song}
        try:
            written.append(write_osz(members, request.out_dir / f"{folder.name}.osz", new_name_if_taken=True))
        except OSError as exc:
            exc.written = written  # the folder is whole: the command still names its files
            raise
    return MapsetResult(folder, paths, tokens, warnings, written)


def _fresh_folder(parent: Path, name: str) -> Path:
    """A new folder under `parent` (`name`, then `name (2)`, ...): a mapset never lands in an existing one."""
    parent.mkdir(parents=True, exist_ok=True)
    counter = 1
    while True:
        folder = parent / (name if counter == 1 else f"{name} ({counter})")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            counter += 1

