"""`mapper generate SONG --difficulty 2,3.5,5`: a whole mapset in one run.

One timing (and kiai) for every difficulty, found once as a one-difficulty run would find it (super
timing, a given tempo or the reference's timing included), so the difficulties share their red
lines as a ranked mapset must; then the remaining passes decode all difficulties together, one
batch row each (models.generation.difficulty_batch). The files go into a new mapset folder with a copy of the
song, one difficulty each, named by the star rating asked for; `--export-osz` packs them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tokenization.errors import MapperInputError

SHARED_PASSES = ("timing", "kiai")  # a mapset keeps one timing and one set of kiai sections


@dataclass
class MapsetResult:
    folder: Path
    paths: list[Path]  # one .osu per difficulty, in the order asked
    tokens: int
    warnings: list[str]
    written: list[Path] = field(default_factory=list)  # every file, the .osu files first


def run_mapset(request, difficulties: list[float],
               progress: Callable[[str, int, int], None] | None = None) -> MapsetResult:

    from models.audio.loading import load_song
    from models.generation.generator import Generator
    from models.generation.given_contexts import given_contexts, reference_style
    from models.generation.trace import Trace
    from models.pipeline.output import _diffusion_folder, _wants_refinement
    from models.pipeline.run import (
        _check_span,
        _checkpoint,
        _device,
        _load_model,
        _plan_passes,
        _samples_for_span,
        _settings,
    )
    from tokenization import read_beatmap

    if request.add_to_beatmap:
        raise MapperInputError("--add-to-beatmap adds one difficulty: give a single --difficulty")
    reference = read_beatmap(request.reference) if request.reference else None
    _check_span(request, reference)
    song = load_song(request.audio, until_ms=None if request.end_time is None else 0)  # 0: length and peak only
    folder, vocab, profile = _checkpoint(request)
    warnings: list[str] = []
    request = replace(request, device=_device(request.device, warnings, request.precision))
    song_ms = song.duration_ms
    sources = given_contexts(request, reference, profile, vocab, song_ms)
    given = set(sources.finished)
    passes, wanted = _plan_passes(request, profile, vocab, sources.finished)
    audio = song.samples if request.end_time is None else _samples_for_span(request, profile, vocab, passes)
    diffusion_folder = _diffusion_folder(request, warnings) if _wants_refinement(request, profile, wanted) else None

    model = _load_model(folder, request)
    style = reference_style(request.reference, reference) if reference is not None else {}
    conditionings = [_conditioning(request, reference, style, stars, song_ms) for stars in difficulties]
    middle = conditionings[len(conditionings) // 2]  # the shared passes hear the middle difficulty
    generator = Generator(model, vocab, profile, _settings(request, profile), request.device)
    trace = Trace(request.trace) if request.trace is not None else None
    generator.trace = trace
    try:
        per_difficulty = _decode(request, generator, model, vocab, profile, audio, conditionings, middle, sources,
                                 passes, progress)
    finally:
        if trace is not None:
            trace.write()
    return _write_mapset(request, difficulties, per_difficulty, profile, reference, sources, given, wanted,
                         diffusion_folder, generator.generated_tokens, warnings, progress, song_ms)


def _decode(request, generator, model, vocab, profile, audio, conditionings, middle, sources, passes, progress):
    """The shared passes (timing, kiai) once with the middle difficulty, then the rest for every
    difficulty together."""
    import torch

    from models.generation.difficulty_batch import generate_difficulties
    from models.generation.given_contexts import super_timing
    from tokenization.events import ContextType

    shared = [p for p in passes if p.value in SHARED_PASSES]
    with torch.inference_mode():
        if ContextType.TIMING in shared:
            super_timing(request, model, vocab, profile, audio, middle, sources, progress, trace=generator.trace)
        shared = [p for p in shared if p not in sources.finished]
        if shared:
            found = generator.generate(audio, middle, shared, finished=sources.finished,
                                       in_contexts=sources.in_contexts, start_ms=request.start_time,
                                       end_ms=request.end_time, progress=progress)
            sources.finished.update({p: found[p] for p in shared})
        rest = [p for p in passes if p.value not in SHARED_PASSES]
        per_difficulty = generate_difficulties(generator, audio, conditionings, rest, finished=sources.finished,
                                               in_contexts=sources.in_contexts, start_ms=request.start_time,
                                               end_ms=request.end_time, progress=progress)
    return per_difficulty


def _conditioning(request, reference, style: dict, stars: float, song_ms: float):
    from tokenization.prompt import Conditioning

    d = reference.difficulty if reference is not None else None
    def asked(key):
        value = getattr(request, key)
        return value if value is not None else style.get(key)

    hitsounded = asked("hitsounded")
    return Conditioning(
        gamemode=request.gamemode, difficulty=stars, year=request.year, song_length_ms=song_ms,
        slider_multiplier=_slider_multiplier(request, reference), circle_size=_circle_size(request, d),
        keycount=request.keycount, descriptors=request.descriptors,
        negative_descriptors=request.negative_descriptors, mapper_id=request.mapper_id,
        beatmap_id=request.beatmap_id, hitsounded=True if hitsounded is None else hitsounded,
        hold_note_ratio=asked("hold_note_ratio"), scroll_speed_ratio=asked("scroll_speed_ratio"))


def _slider_multiplier(request, reference) -> float:
    return request.slider_multiplier or (reference.difficulty.slider_multiplier if reference is not None else 1.4)


def _circle_size(request, d) -> float:
    return request.circle_size or (d.circle_size if d is not None and request.gamemode != 3 else 4.0)


def _write_mapset(request, difficulties, per_difficulty, profile, reference, sources, given, wanted,
                  diffusion_folder, tokens, warnings, progress, song_ms=None) -> MapsetResult:
    from models.pipeline.output import _postprocess, _refine, _write, audio_member_name
    from models.pipeline.request import safe_filename
    from tokenization.atomic_files import write_atomic
    from tokenization.events import ContextType

    d = reference.difficulty if reference is not None else None
    slider_multiplier, circle_size = _slider_multiplier(request, reference), _circle_size(request, d)
    beatmaps = []
    for stars, contexts in zip(difficulties, per_difficulty):
        asked = replace(request, difficulty=stars, version=f"{stars:g} stars (AI)")
        kept = {c: events for c, events in contexts.items()
                if c.value in wanted or c is ContextType.TIMING or c in given}
        beatmap, report = _postprocess(asked, profile, kept, reference, sources.reference_timing,
                                       slider_multiplier, circle_size, song_ms)
        warnings += [f"{stars:g} stars: {w}" for w in report]
        if beatmap.hit_objects and diffusion_folder is not None:
            _refine(asked, diffusion_folder, beatmap, progress)
        beatmaps.append((asked, beatmap))
    m = beatmaps[0][1].metadata
    folder = _fresh_folder(request.out_dir, safe_filename(f"{m.artist} - {m.title} ({m.creator})"))
    song = write_atomic(folder / audio_member_name(request.audio), lambda temp: shutil.copyfile(request.audio, temp))
    paths = [_write(replace(asked, out_dir=folder, export_osz=False), beatmap, reference, 0, []).path
             for asked, beatmap in beatmaps]
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

