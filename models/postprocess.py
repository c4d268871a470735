"""Generated event streams to a playable beatmap: timing, resnapping, objects, slider velocities, kiai."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.resnap import Grid, resnap_time
from models.timing_fit import fit_timing
from tokenization.beatmap import Beatmap, GameMode, Slider, TimingPoint
from tokenization.events import ContextType, Event, EventType
from tokenization.events_to_beatmap import events_to_objects
from tokenization.settings import TokenizerSettings

E = EventType
DEFAULT_BPM = 120.0
MIN_SV, MAX_SV = 0.1, 10.0
AI_TAGS = ["ai-generated", "mapper"]
COMBO_COLOURS = [(255, 192, 0), (0, 202, 0), (18, 124, 255), (242, 24, 57)]


@dataclass
class BeatmapInfo:
    title: str = "Unknown Title"
    artist: str = "Unknown Artist"
    creator: str = "mapper (AI)"
    version: str = "mapper"
    audio_filename: str = "audio.mp3"
    mode: GameMode = GameMode.OSU
    hp: float = 5.0
    circle_size: float = 4.0
    overall_difficulty: float = 8.0
    approach_rate: float = 9.0
    slider_multiplier: float = 1.4
    slider_tick_rate: float = 1.0
    keycount: int = 4
    tags: list[str] = field(default_factory=list)
    preview_time: int = -1


@dataclass
class PostprocessReport:
    red_lines: int = 0
    objects: int = 0
    dropped_groups: int = 0
    stray_events: int = 0


def build_beatmap(contexts: dict[ContextType, list[Event]], settings: TokenizerSettings, info: BeatmapInfo, *,
                  reference_timing: list[TimingPoint] | None = None, leniency_ms: float = 20.0,
                  resnap: bool = True, types_first: bool = True) -> tuple[Beatmap, PostprocessReport]:
    from models.generation import beat_markers

    report = PostprocessReport()
    reds = [tp for tp in (reference_timing or []) if tp.uninherited]
    if not reds:
        timing_events = contexts.get(ContextType.TIMING, []) or [
            e for e in contexts.get(ContextType.MAP, []) if e.type in (E.BEAT, E.MEASURE, E.TIMING_POINT)]
        reds = [line.to_timing_point() for line in fit_timing(beat_markers(timing_events, types_first), leniency_ms)]
    if not reds:
        reds = [TimingPoint(0.0, 60000.0 / DEFAULT_BPM)]
    reds.sort(key=lambda tp: tp.time)
    report.red_lines = len(reds)
    map_events = contexts.get(ContextType.MAP, [])
    if resnap:
        map_events = _resnap(map_events, [Grid(tp.time, tp.beat_length) for tp in reds])
    key_count = info.keycount if info.mode is GameMode.MANIA else 4
    objects, decoded = events_to_objects(map_events, settings, mode=info.mode, key_count=key_count)
    report.objects, report.dropped_groups, report.stray_events = len(objects), decoded.dropped_groups, decoded.stray_events

    bm = Beatmap()
    bm.general.audio_filename = info.audio_filename
    bm.general.mode = info.mode
    bm.general.preview_time = info.preview_time
    bm.general.sample_set = "Soft"
    m = bm.metadata
    m.title = m.title_unicode = info.title
    m.artist = m.artist_unicode = info.artist
    m.creator, m.version = info.creator, info.version
    m.tags = list(dict.fromkeys(AI_TAGS + info.tags))
    d = bm.difficulty
    d.hp_drain_rate, d.overall_difficulty, d.approach_rate = info.hp, info.overall_difficulty, info.approach_rate
    d.circle_size = float(info.keycount) if info.mode is GameMode.MANIA else info.circle_size
    d.slider_multiplier, d.slider_tick_rate = info.slider_multiplier, info.slider_tick_rate
    bm.combo_colours = list(COMBO_COLOURS)

    greens: dict[float, float] = {}
    for obj in objects:
        if isinstance(obj, Slider):
            red = _red_at(reds, obj.time)
            hint = decoded.slider_hints.get(id(obj))
            span = (obj.duration or 0.0) / obj.slides
            px_per_beat_at_sv1 = 100 * info.slider_multiplier
            if hint is not None and hint.scroll_speed is not None:
                sv = min(max(hint.scroll_speed / 100, MIN_SV), MAX_SV)
                obj.length = sv * px_per_beat_at_sv1 * span / red.beat_length
            elif span > 0 and obj.length > 0:
                sv = min(max(obj.length * red.beat_length / (px_per_beat_at_sv1 * span), MIN_SV), MAX_SV)
                obj.length = sv * px_per_beat_at_sv1 * span / red.beat_length
            else:
                sv = 1.0
            greens[obj.time] = round(sv, 2)
    kiai = _kiai_spans(contexts.get(ContextType.KIAI, []), types_first)
    bm.timing_points = _timing_points(reds, greens, kiai)
    bm.hit_objects = sorted(objects, key=lambda o: o.time)
    _fill_durations(bm)
    return bm, report


def _red_at(reds: list[TimingPoint], time: float) -> TimingPoint:
    current = reds[0]
    for tp in reds:
        if tp.time <= time:
            current = tp
    return current


def _resnap(events: list[Event], grids: list[Grid]) -> list[Event]:
    out = list(events)
    for i in range(len(out) - 1):
        if out[i].type is E.TIME_SHIFT and out[i + 1].type is E.SNAPPING and out[i + 1].value > 0:
            out[i] = Event(E.TIME_SHIFT, int(resnap_time(out[i].value, out[i + 1].value, grids)))
    return out


def _kiai_spans(events: list[Event], types_first: bool) -> list[tuple[float, bool]]:
    from models.generation import event_times

    times = event_times(events, types_first)
    return [(float(t), bool(e.value)) for e, t in zip(events, times) if e.type is E.KIAI]


def _timing_points(reds: list[TimingPoint], greens: dict[float, float], kiai: list[tuple[float, bool]]):
    """Red lines, plus a green line wherever the slider velocity or kiai changes."""
    changes = sorted(set(greens) | {t for t, _ in kiai})
    points = list(reds)
    sv, on = 1.0, False
    kiai_at = dict(kiai)
    for time in changes:
        new_sv = greens.get(time, sv)
        new_on = kiai_at.get(time, on)
        if new_sv != sv or new_on != on:
            points.append(TimingPoint(time, -100.0 / new_sv, uninherited=False, effects=int(new_on)))
        sv, on = new_sv, new_on
    points.sort(key=lambda tp: (tp.time, not tp.uninherited))
    return points


def _fill_durations(bm: Beatmap) -> None:
    from tokenization.timing import TimingIndex

    timing = TimingIndex(bm.timing_points)
    for obj in bm.hit_objects:
        if isinstance(obj, Slider):
            obj.duration = timing.slider_duration(obj, bm.difficulty.slider_multiplier)
