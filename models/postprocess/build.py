"""Generated event streams to a playable beatmap: timing, resnapping, objects, slider velocities, kiai."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from models.postprocess.overlap import snap_near_overlaps
from models.postprocess.timing_changes import (
    drop_before_first_red,
    set_kiai,
    set_slider_velocity,
    set_volume,
    slider_velocity_at,
)
from models.timing.fit import fit_timing
from models.timing.resnap import Grid, resnap_time
from tokenization.beatmap import Beatmap, CurveType, GameMode, PathPoint, Slider, TimingPoint
from tokenization.events import ContextType, Event, EventType
from tokenization.events_to_beatmap import events_to_objects
from tokenization.settings import TokenizerSettings

E = EventType
DEFAULT_BPM = 120.0
MIN_SV, MAX_SV = 0.1, 10.0
AI_TAGS = ["ai-generated", "mapper"]
TARGET_STARS_TAG = "target-stars-"  # + the star rating asked for; `mapper eval` reads it back
PLAYFIELD_WIDTH = 512.0  # osu! pixels
TAIKO_Y = 192.0
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
    source: str = ""
    title_unicode: str | None = None  # None: the same as title
    artist_unicode: str | None = None


@dataclass
class PostprocessReport:
    red_lines: int = 0
    objects: int = 0
    dropped_groups: int = 0
    stray_events: int = 0
    snapped_overlaps: int = 0
    dropped_drumrolls: int = 0


def build_beatmap(contexts: dict[ContextType, list[Event]], settings: TokenizerSettings, info: BeatmapInfo, *,
                  reference_timing: list[TimingPoint] | None = None, leniency_ms: float = 20.0,
                  resnap: bool = True, types_first: bool = True, snap_overlaps: bool = False,
                  song_ms: float | None = None, seed: int | None = None) -> tuple[Beatmap, PostprocessReport]:
    """The beatmap of a generation's contexts. Objects come from every context merged by time
    (`models.postprocess.object_stream`); `song_ms` closes the last slider anchors' times and `seed` draws the
    positions of groups that have only a distance."""
    from models.generation.event_times import beat_markers
    from models.postprocess.object_stream import DistancePlacer, merged_stream

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
    object_events = merged_stream(contexts, types_first=types_first, song_ms=song_ms)
    if resnap:
        object_events = _resnap(object_events, [Grid(tp.time, tp.beat_length) for tp in reds])
    key_count = info.keycount if info.mode is GameMode.MANIA else 4
    objects, decoded = events_to_objects(object_events, settings, mode=info.mode, key_count=key_count,
                                         placer=DistancePlacer(seed))
    report.objects, report.dropped_groups, report.stray_events = len(objects), decoded.dropped_groups, decoded.stray_events
    if snap_overlaps and info.mode in (GameMode.OSU, GameMode.CATCH):
        report.snapped_overlaps = snap_near_overlaps(objects)

    bm = Beatmap()
    bm.general.audio_filename = info.audio_filename
    bm.general.mode = info.mode
    bm.general.preview_time = info.preview_time
    bm.general.sample_set = "Soft"
    m = bm.metadata
    m.title, m.title_unicode = info.title, info.title_unicode or info.title
    m.artist, m.artist_unicode = info.artist, info.artist_unicode or info.artist
    m.creator, m.version, m.source = info.creator, info.version, info.source
    m.tags = list(dict.fromkeys(AI_TAGS + info.tags))
    d = bm.difficulty
    d.hp_drain_rate, d.overall_difficulty, d.approach_rate = info.hp, info.overall_difficulty, info.approach_rate
    d.circle_size = float(info.keycount) if info.mode is GameMode.MANIA else info.circle_size
    d.slider_multiplier, d.slider_tick_rate = info.slider_multiplier, info.slider_tick_rate
    bm.combo_colours = list(COMBO_COLOURS)

    changes = _slider_velocities(objects, decoded, reds, info)
    if info.mode is GameMode.TAIKO:
        objects, report.dropped_drumrolls = _drumroll_paths(objects)
    if info.mode is GameMode.MANIA:
        mania = _mania_velocities(contexts.get(ContextType.SV, []), reds, objects, settings, types_first)
        changes += [(_step_of_speed(decoded.speed_steps, time), _ForcedVelocity(time, sv))
                    for time, sv in sorted(mania.items())]
    changes += [(step, _Kiai(time, on)) for step, time, on in decoded.kiai_changes]
    changes += [(step, _Volume(time, volume)) for step, time, volume in decoded.volume_changes]
    bm.timing_points = _timing_points(reds, changes)
    bm.hit_objects = sorted(objects, key=lambda o: o.time)
    fill_durations(bm)
    return bm, report


def _slider_velocities(objects: list, decoded, reds: list[TimingPoint], info: BeatmapInfo) -> list[tuple]:
    """SV per slider (from its scroll-speed token, else from its drawn length and duration), with
    each slider's length made to match; taiko circles keep the SV their token gave. The changes
    come as (when, change), `when` being the time the object is complete."""
    changes: list[tuple] = []
    px_per_beat_at_sv1 = 100 * info.slider_multiplier
    for obj in objects:
        if isinstance(obj, Slider):
            red = _red_at(reds, obj.time)
            hint = decoded.slider_hints.get(id(obj))
            span = (obj.duration or 0.0) / obj.slides
            if hint is not None and hint.scroll_speed is not None:
                sv = min(max(hint.scroll_speed / 100, MIN_SV), MAX_SV)
            elif span > 0 and obj.length > 0 and info.mode is not GameMode.TAIKO:
                sv = min(max(obj.length * red.beat_length / (px_per_beat_at_sv1 * span), MIN_SV), MAX_SV)
            else:
                sv = 1.0
            if span > 0:
                obj.length = sv * px_per_beat_at_sv1 * span / red.beat_length
            change = _ForcedVelocity if info.mode is GameMode.TAIKO else _SliderVelocity  # drumrolls always
            changes.append((decoded.completed_at.get(id(obj), 0), change(obj.time, round(sv, 2))))
        elif id(obj) in decoded.scroll_speeds and info.mode is GameMode.TAIKO:
            sv = round(min(max(decoded.scroll_speeds[id(obj)] / 100, MIN_SV), MAX_SV), 2)
            changes.append((decoded.completed_at.get(id(obj), 0), _ForcedVelocity(obj.time, sv)))
    return changes


def _drumroll_paths(objects: list) -> tuple[list, int]:
    """Taiko drumrolls are sliders whose only job is their length: a straight line from the left
    edge zig-zagging across the playfield until it is long enough. Drumrolls under 1 ms go."""
    kept, dropped = [], 0
    for obj in objects:
        if isinstance(obj, Slider):
            if (obj.duration or 0.0) < 1.0 or obj.length <= 0:
                dropped += 1
                continue
            turns = max(1, math.ceil(obj.length / PLAYFIELD_WIDTH))
            obj.x, obj.y = 0.0, TAIKO_Y
            obj.path = [PathPoint(0.0, TAIKO_Y, CurveType.LINEAR)] + [
                PathPoint(PLAYFIELD_WIDTH if i % 2 else 0.0, TAIKO_Y) for i in range(1, turns + 1)]
            obj.slides = 1
        kept.append(obj)
    return kept, dropped


def _mania_velocities(events: list[Event], reds: list[TimingPoint], objects: list, settings: TokenizerSettings,
                      types_first: bool) -> dict[float, float]:
    """Mania scroll-speed changes from the SV pass. Models trained on tempo-normalised speeds give
    the speed relative to the map's main tempo, so each red line's tempo is folded back in, and the
    speed is restated at every later red line."""
    from models.generation.event_times import event_times
    from tokenization.beatmap_to_events import median_beat_length

    times = event_times(events, types_first)
    changes = [(float(t), e.value / 100) for e, t in zip(events, times) if e.type is E.SCROLL_SPEED]
    if not changes:
        return {}
    greens: dict[float, float] = {}
    if not settings.mania_bpm_normalized_scroll_speed:
        return {t: round(min(max(v, MIN_SV), MAX_SV), 2) for t, v in changes}
    median = median_beat_length(Beatmap(timing_points=list(reds), hit_objects=list(objects)))
    moments = sorted({t for t, _ in changes} | {tp.time for tp in reds if tp.time > changes[0][0]})
    speeds = dict(changes)
    speed = changes[0][1]
    for time in moments:
        speed = speeds.get(time, speed)
        red = _red_at(reds, time)
        greens[time] = round(min(max(speed * red.beat_length / median, MIN_SV), MAX_SV), 2)
    return greens


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


@dataclass
class _SliderVelocity:
    """A slider's SV, set where it differs from the SV in force at its head."""
    time: float
    sv: float

    def apply(self, points: list[TimingPoint]) -> list[TimingPoint]:
        if self.sv == slider_velocity_at(points, self.time):
            return points
        return set_slider_velocity(points, self.time, self.sv)


@dataclass
class _ForcedVelocity:
    """An SV set as it is (taiko objects, mania scroll speeds): even 1 after a red line is a green line."""
    time: float
    sv: float

    def apply(self, points: list[TimingPoint]) -> list[TimingPoint]:
        return set_slider_velocity(points, self.time, self.sv)


@dataclass
class _Kiai:
    time: float
    on: bool

    def apply(self, points: list[TimingPoint]) -> list[TimingPoint]:
        return set_kiai(points, self.time, self.on)


@dataclass
class _Volume:
    time: float
    volume: int

    def apply(self, points: list[TimingPoint]) -> list[TimingPoint]:
        return set_volume(points, self.time, self.volume)


def _step_of_speed(speed_steps: list[tuple[int, float]], time: float) -> int:
    """The stream place of the scroll-speed change in force at `time` (restated ones at later red
    lines are set together with it)."""
    steps = [step for step, at in speed_steps if at <= time]
    return max(steps) if steps else 0


def _timing_points(reds: list[TimingPoint], changes: list[tuple]) -> list[TimingPoint]:
    """The red lines with every SV, kiai and volume change made in stream order (`models.postprocess.timing_changes`: a change before the first red line moves it back
    by whole measures; what is left before it is dropped)."""
    points = [dataclasses.replace(red) for red in reds]
    for _, change in sorted(changes, key=lambda item: item[0]):  # stable: equal times keep their order
        points = change.apply(points)
    return drop_before_first_red(points)


def fill_durations(bm: Beatmap) -> None:
    from tokenization.timing import TimingIndex

    timing = TimingIndex(bm.timing_points)
    for obj in bm.hit_objects:
        if isinstance(obj, Slider):
            obj.duration = timing.slider_duration(obj, bm.difficulty.slider_multiplier)
