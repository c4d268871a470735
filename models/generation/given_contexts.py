"""What a generation is given rather than asked to write: a reference beatmap's contexts (its
timing, kiai, a guest difficulty, a map to hitsound, the events a partial remap continues from),
a known tempo, or timing found by super timing; and what a reference says about its own style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tokenization.errors import MapperInputError


@dataclass(frozen=True)
class GivenOptions:
    """What a generation is told about its givens by whoever asks for it (the pipeline fills it
    from its own request type): the reference map and what to take from it, a known tempo, and how
    to find the timing by voting."""

    reference_path: Path | None = None
    in_context: tuple[str, ...] = ()  # timing, kiai, gd, no_hs
    bpm: float | None = None  # a known tempo: one red line instead of the timing pass
    offset: float | None = None  # ms of that red line's first beat
    continue_before_ms: float | None = None  # a splice's start: passes continue the reference's events before it
    super_timing: bool | None = None  # None: the profile's
    timing_passes: int | None = None  # None: the profile's timer_iterations
    batch_size: int | None = None  # None: the profile's max_batch_size
    seed: int | None = None
    device: str = "cpu"


@dataclass
class GivenContexts:
    finished: dict = field(default_factory=dict)  # context -> EventList (events with their times), given whole
    in_contexts: dict | None = None  # template inputs; None: the profile's default
    preload: dict = field(default_factory=dict)  # context -> events a pass continues from
    reference_timing: list | None = None


def given_contexts(options: GivenOptions, reference, profile, vocab, song_ms: float) -> GivenContexts:
    """What the reference beatmap contributes: finished contexts, template inputs, and the events a
    partial remap continues from."""
    from models.generation.generator import InContext
    from tokenization.beatmap_to_events import BeatmapEncoder
    from tokenization.events import ContextType, EventType

    out = GivenContexts()
    if options.bpm is not None:  # a known tempo stands in for the timing pass
        from tokenization.beatmap import TimingPoint

        give_timing(out, [TimingPoint(time=options.offset or 0.0, beat_length=60_000 / options.bpm)], profile,
                    vocab, song_ms)
    if reference is None:
        return out
    wanted = {c.lower() for c in options.in_context}
    encoder = BeatmapEncoder(reference, profile.tokenizer)
    inputs = wanted & {"gd", "no_hs"}
    if len(inputs) > 1:
        raise MapperInputError("--in-context takes gd or no_hs, not both")
    if inputs:
        kind = ContextType(next(iter(inputs)))
        templates = [t for t in profile.templates if kind.value in t.inputs]
        if not templates or kind not in vocab.context_sos:
            raise MapperInputError(f"the {profile.name} model has no {kind.value} context "
                                   f"(it takes {', '.join(_inputs_of(profile, vocab)) or 'no reference map'})")
        events = encoder.context(ContextType.MAP, song_ms).events
        class_ids = []
        if kind is ContextType.NO_HS:
            events = [e for e in events if e.type not in (EventType.HITSOUND, EventType.VOLUME)]
        else:
            class_ids = _reference_class_tokens(options.reference_path, reference, vocab, song_ms)
        out.in_contexts = {kind: InContext(events, class_ids)}
    # A model that writes timing inside the map (v30) must not invent a second timing next to a given map.
    copy_timing = "timing" in wanted or (bool(inputs) and profile.tokenizer.add_timing)
    if copy_timing:
        if ContextType.TIMING in vocab.context_sos:
            out.finished[ContextType.TIMING] = encoder.timing_events(song_ms)
        out.reference_timing = reference.timing_points
    if "kiai" in wanted:
        if ContextType.KIAI not in vocab.context_sos:
            raise MapperInputError(f"the {profile.name} model has no kiai context to take from --beatmap")
        out.finished[ContextType.KIAI] = encoder.kiai_events()
    if options.continue_before_ms is not None:
        from models.generation.event_times import trim_events

        for context in (ContextType.MAP, ContextType.KIAI, ContextType.SV):
            if context in out.finished or (context is not ContextType.MAP and context not in vocab.context_sos):
                continue
            events = encoder.context(context, song_ms).events
            out.preload[context] = trim_events(events, profile.tokenizer.types_first, None,
                                               options.continue_before_ms - 1, 0)
    return out


def give_timing(out: GivenContexts, red_lines, profile, vocab, song_ms: float) -> None:
    """Known red lines as the finished TIMING context (its beat and measure events) and as the map's timing."""
    from tokenization.beatmap import Beatmap
    from tokenization.beatmap_to_events import BeatmapEncoder
    from tokenization.events import ContextType

    given = Beatmap()
    given.timing_points = list(red_lines)
    if ContextType.TIMING in vocab.context_sos:
        out.finished[ContextType.TIMING] = BeatmapEncoder(given, profile.tokenizer).timing_events(song_ms)
    out.reference_timing = given.timing_points


def super_timing(options: GivenOptions, model, vocab, profile, audio, conditioning, sources, progress,
                 trace=None) -> None:
    """The timing pass replaced by voting over shifted passes (models.generation.timing_passes), as the
    profile or --super-timing asks, for models with a timing context of their own."""
    from models.generation.timing_passes import run_timing_passes
    from tokenization.events import ContextType

    wanted = profile.inference.super_timing if options.super_timing is None else options.super_timing
    if not wanted or ContextType.TIMING in sources.finished or ContextType.TIMING not in vocab.context_sos:
        return
    passes = options.timing_passes or profile.inference.timer_iterations
    result = run_timing_passes(model, vocab, profile, audio, conditioning, passes=passes,
                               batch_size=options.batch_size or profile.inference.max_batch_size, seed=options.seed,
                               device=options.device, progress=progress, trace=trace)
    if result.red_lines:  # otherwise the plain timing pass gets its chance
        give_timing(sources, [line.to_timing_point() for line in result.red_lines], profile, vocab,
                    conditioning.song_length_ms)


def _inputs_of(profile, vocab) -> list[str]:
    from tokenization.events import ContextType

    return sorted({c for t in profile.templates for c in t.inputs if c != "none" and ContextType(c) in vocab.context_sos})


def reference_style(path: Path, reference) -> dict:
    """What a reference map says about its own style: star rating (rosu-pp, 2 decimals), whether it
    is hitsounded, and for mania/taiko its hold-note and scroll-speed-change ratios."""
    import math

    import rosu_pp_py as rosu

    try:
        stars = round(float(rosu.Difficulty().calculate(rosu.Beatmap(path=str(path))).stars), 2)
    except Exception:  # noqa: BLE001 - rosu-pp raises its own parse errors; unknown stars is fine
        stars = None
    objects = reference.hit_objects
    mode = int(reference.mode)
    holds = sum(1 for o in objects if type(o).__name__ == "HoldNote")
    scroll_ratio = None
    if mode in (1, 3) and objects:
        changes, current = 0, 1.0
        for tp in sorted(reference.timing_points, key=lambda tp: tp.time):
            sv = 1.0 if tp.uninherited or math.isnan(tp.beat_length) or tp.beat_length >= 0 else -100 / tp.beat_length
            changes += abs(sv - current) > 1e-6
            current = sv
        scroll_ratio = changes / len({round(o.time) for o in objects})
    return {"difficulty": stars, "hitsounded": any(getattr(o, "hitsound", 0) for o in objects),
            "hold_note_ratio": holds / len(objects) if mode == 3 and objects else None,
            "scroll_speed_ratio": scroll_ratio}


def _reference_class_tokens(path: Path, reference, vocab, song_ms: float) -> list[int]:
    """The class tokens describing the reference map itself (its mode, star rating, CS, ...), year unknown."""
    from tokenization.prompt import Conditioning, class_tokens

    d = reference.difficulty
    return class_tokens(vocab, Conditioning(
        gamemode=reference.mode.value, song_length_ms=song_ms, slider_multiplier=d.slider_multiplier,
        circle_size=d.circle_size, keycount=int(d.circle_size), **reference_style(path, reference)))
