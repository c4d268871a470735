"""Beatmap to events, for all four game modes and every model version's settings.

Each hit object becomes one or more groups of events that share a time (reference
tokenizer-and-model.md §1.4): the type token (first or last, by `types_first`), the time and
snap divisor, the position block, new combo, scroll speed and hitsound/volume pairs. Groups are
sorted by time (stably, so a slider's groups stay in order). Timing ticks, kiai toggles and
mania scroll speeds are their own contexts, or are merged into the map context when the
settings interleave them (ticks first on equal times).

Over 300 lines: every context's encoder shares one bookkeeping of times, snap divisors and timing
ticks that must match the original's token for token (tests/test_tokenizer_compat.py); one file
keeps that arithmetic in one place.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from tokenization.beatmap import (
    Beatmap,
    CurveType,
    GameMode,
    HitObject,
    HitSample,
    HoldNote,
    Slider,
    Spinner,
    TimingPoint,
)
from tokenization.events import ContextType, Event, EventType
from tokenization.legacy_curve import is_perfect_arc, legacy_end_position
from tokenization.settings import TokenizerSettings
from tokenization.timing import TimingIndex

E = EventType
_NEW = tuple.__new__  # Event(kind, value) without the namedtuple constructor's Python-level call
# enum members bound once: the hot path reads them many times per object
_TIME_SHIFT, _SNAPPING, _DISTANCE = E.TIME_SHIFT, E.SNAPPING, E.DISTANCE
_POS, _POS_X, _POS_Y, _POS_REFINE, _COLUMN = E.POS, E.POS_X, E.POS_Y, E.POS_REFINE, E.MANIA_COLUMN
_SCROLL_SPEED, _HITSOUND, _VOLUME = E.SCROLL_SPEED, E.HITSOUND, E.VOLUME
_NEW_COMBO_EVENT = Event(E.NEW_COMBO, 0)
PLAYFIELD_CENTRE = (256.0, 192.0)
MAX_DISTANCE_PX = 640
SNAP_TOLERANCE_MS = 2.0
MAX_SNAP_DIVISOR = 16
HITSOUND_LOOKAHEAD_MS = 5  # hitsound settings come from the timing point 5 ms after the object
DEFAULT_SAMPLE_SET = 2  # a timing point's "auto" sample set counts as soft
TIMING_END_MARGIN_MS = 10  # ticks stop this long before the next red line
MAX_TICKS_PER_RED_LINE = 100_000  # more ticks than any song holds (e.g. 1e-300 ms per beat): none
MIN_SV, MAX_SV = 0.01, 10.0


def ms(time: float) -> int:
    """Whole milliseconds, truncated, with a guard against float error just below an integer."""
    return int(time + 1e-5)


@dataclass
class EventList:
    """Events with the time (ms) of the group each belongs to."""

    events: list[Event] = field(default_factory=list)
    times: list[int] = field(default_factory=list)

    def add(self, event: Event, time: int) -> None:
        self.events.append(event)
        self.times.append(time)

    def __len__(self) -> int:
        return len(self.events)


def merge(first: EventList, second: EventList) -> EventList:
    """Merge two time-sorted lists; on equal times `first` comes first."""
    out = EventList()
    i = j = 0
    a, b = first, second
    while i < len(a) and j < len(b):
        if a.times[i] <= b.times[j]:
            out.add(a.events[i], a.times[i])
            i += 1
        else:
            out.add(b.events[j], b.times[j])
            j += 1
    out.events += a.events[i:] + b.events[j:]
    out.times += a.times[i:] + b.times[j:]
    return out


class BeatmapEncoder:
    """Turns one beatmap into event lists under one version's settings."""

    def __init__(self, beatmap: Beatmap, settings: TokenizerSettings):
        self.bm = beatmap
        self.s = settings
        self.points = timing_as_read(beatmap.timing_points)
        self.timing = TimingIndex(self.points)
        self.mode = beatmap.mode
        x_min, x_max, y_min, y_max = settings.position_range
        p = settings.position_precision
        self._cell_x = (x_min / p, x_max / p)
        self._cell_y = (y_min / p, y_max / p)
        self._cells_per_row = int((x_max - x_min) / p + 1)
        self._key_count = int(beatmap.difficulty.circle_size)
        self._snaps: dict[float, int] = {}
        self._types_first = settings.types_first
        self._add_snapping = settings.add_snapping
        self._add_hitsounds = settings.add_hitsounds
        self._add_distances = settings.add_distances
        self._add_positions = settings.add_positions
        self._split_axes = settings.position_split_axes
        self._precision = settings.position_precision
        self._positional = self.mode in (GameMode.OSU, GameMode.CATCH)
        self._mania = self.mode is GameMode.MANIA

    # -- contexts ----------------------------------------------------------------------------
    def context(self, context: ContextType, song_length_ms: float | None = None) -> EventList:
        if context in (ContextType.MAP, ContextType.GD):
            return self.map_events(song_length_ms)
        if context is ContextType.NO_HS:
            full = self.map_events(song_length_ms)
            kept = [(e, t) for e, t in zip(full.events, full.times) if e.type not in (E.HITSOUND, E.VOLUME)]
            return EventList([e for e, _ in kept], [t for _, t in kept])
        if context is ContextType.TIMING:
            return self.timing_events(song_length_ms)
        if context is ContextType.KIAI:
            return self.kiai_events()
        if context is ContextType.SV:
            # Every mode has one (the green lines' speeds); only mania generates or reads it at inference.
            return self.scroll_speed_events()
        return EventList()

    def map_events(self, song_length_ms: float | None = None) -> EventList:
        groups = EventList()
        last_pos = PLAYFIELD_CENTRE
        for obj in self.bm.hit_objects:
            if isinstance(obj, Slider):
                if self.mode is GameMode.TAIKO:
                    self._drumroll(obj, groups)
                else:
                    last_pos = self._slider(obj, groups, last_pos)
            elif isinstance(obj, Spinner):
                if self.mode is GameMode.TAIKO:
                    self._denden(obj, groups)
                else:
                    self._spinner(obj, groups)
                    last_pos = PLAYFIELD_CENTRE
            elif isinstance(obj, HoldNote):
                self._hold_note(obj, groups)
            else:
                last_pos = self._circle(obj, groups, last_pos)
        order = sorted(range(len(groups)), key=groups.times.__getitem__)  # stable: groups keep their order
        result = EventList([groups.events[i] for i in order], [groups.times[i] for i in order])
        if self.s.add_mania_sv and self.mode is GameMode.MANIA:
            result = merge(self.scroll_speed_events(), result)
        if self.s.add_kiai:
            result = merge(self.kiai_events(), result)
        if self.s.add_timing:
            result = merge(self.timing_events(song_length_ms), result)
        return result

    def timing_events(self, song_length_ms: float | None = None) -> EventList:
        out = EventList()
        if not self.bm.timing_points:
            return out
        if self.bm.hit_objects:
            last_time = _whole_ms_end(self.bm.hit_objects[-1]) + 0.999
        elif song_length_ms is not None:
            last_time = song_length_ms
        else:
            last_time = self.bm.timing_points[-1].time + 10
        reds = [tp for tp in self.points if tp.uninherited and tp.beat_length > 0]
        for index, red in enumerate(reds):
            end = reds[index + 1].time - TIMING_END_MARGIN_MS if index + 1 < len(reds) else last_time
            if (end - red.time) / red.beat_length > MAX_TICKS_PER_RED_LINE:
                continue  # a "tempo" no song has (a mapping trick or a corrupt line): no ticks, bounded work
            count = 0
            time = red.time
            while time <= end:
                if self.s.add_timing_points and count == 0:
                    kind = E.TIMING_POINT
                elif count % red.meter == 0:
                    kind = E.MEASURE
                else:
                    kind = E.BEAT
                self._group(out, Event(kind), time, snap=False)
                count += 1
                time = int(red.time + count * red.beat_length)
        return out

    def kiai_events(self) -> EventList:
        out = EventList()
        kiai = False
        for tp in self.bm.timing_points:
            # The original's .osu parser takes any non-zero effects field as kiai (so "omit first bar
            # line", 8, reads as kiai too); the published models were trained on that reading.
            if bool(tp.effects) == kiai:
                continue
            kiai = bool(tp.effects)
            self._group(out, Event(E.KIAI, int(kiai)), tp.time)
        return out

    def scroll_speed_events(self) -> EventList:
        out = EventList()
        points = self.points
        median = median_beat_length(self.bm, points)
        beat_length = median
        last = -1.0
        for index, tp in enumerate(points):
            if tp.uninherited:
                beat_length = tp.beat_length
                speed = 1.0
            else:
                speed = -100 / tp.beat_length if tp.beat_length < 0 else 1.0
            if index + 1 < len(points) and points[index + 1].time <= tp.time:
                continue  # only the last point at a time counts
            if self.s.mania_bpm_normalized_scroll_speed and beat_length:
                speed = speed * median / beat_length
            if abs(speed - last) > 1e-3 or last == -1:
                self._group(out, Event(E.SCROLL_SPEED_CHANGE), tp.time, scroll_speed=speed)
            last = speed
        return out

    # -- hit objects -------------------------------------------------------------------------
    def _circle(self, obj: HitObject, out: EventList, last_pos):
        return self._group(out, Event(E.CIRCLE), obj.time, pos=(obj.x, obj.y), last_pos=last_pos,
                           new_combo=obj.new_combo, sounds=[(obj.time, obj.hitsound, _sample_fields(obj.sample))],
                           scroll_speed=self._sv_at(obj.time) if self.mode is GameMode.TAIKO else None)

    def _slider(self, obj: Slider, out: EventList, last_pos):
        points = obj.path
        n = len(points)
        if n >= self.s.max_slider_control_points:
            return last_pos
        edges = obj.edge_sounds
        head_sound = (obj.time, edges[0].hitsound if edges else 0, _edge_fields(edges, 0))
        last_pos = self._group(out, Event(E.SLIDER_HEAD), obj.time, pos=(obj.x, obj.y), last_pos=last_pos,
                               new_combo=obj.new_combo, sounds=[head_sound],
                               scroll_speed=self._sv_at(obj.time) if self.s.add_sv else None)
        duration = float(int(obj.duration or 0.0))  # the training data held whole milliseconds
        span = duration / obj.slides
        version1 = self.s.slider_version == 1
        for index, kind in _anchor_types(obj):
            when = obj.time + index / (n - 1) * span if version1 else obj.time
            last_pos = self._group(out, Event(kind), when, timed=False, pos=(points[index].x, points[index].y),
                                   last_pos=last_pos)
        last_point = (points[-1].x, points[-1].y)
        if not version1:
            last_pos = self._group(out, Event(E.LAST_ANCHOR), obj.time, timed=False, pos=last_point,
                                   last_pos=last_pos)
            self._sustain(out, E.SLIDER_SUSTAIN, obj.time, obj.time + span)
        body = [(obj.time + 1, obj.hitsound, _sample_fields(obj.sample))]
        repeats = [(obj.time + i * span, edges[i].hitsound if len(edges) > i else 0, _edge_fields(edges, i))
                   for i in range(1, obj.slides)]
        last_pos = self._group(out, Event(E.LAST_ANCHOR), obj.time + span, pos=last_point if version1 else None,
                               last_pos=last_pos, sounds=body + repeats)
        end_time = obj.time + duration
        self._sustain(out, E.SLIDER_REPEAT_SUSTAIN, obj.time + span, end_time)
        tail = (end_time, edges[-1].hitsound if edges else 0, _edge_fields(edges, len(edges) - 1))
        return self._group(out, Event(E.SLIDER_END), end_time, pos=legacy_end_position(obj),
                           last_pos=last_pos, sounds=[tail])

    def _spinner(self, obj: Spinner, out: EventList) -> None:
        self._group(out, Event(E.SPINNER), obj.time)
        self._sustain(out, E.SPINNER_SUSTAIN, obj.time, obj.spinner_end)
        self._group(out, Event(E.SPINNER_END), obj.spinner_end,
                    sounds=[(obj.spinner_end, obj.hitsound, _sample_fields(obj.sample))])

    def _hold_note(self, obj: HoldNote, out: EventList) -> None:
        pos = (obj.x, obj.y)
        self._group(out, Event(E.HOLD_NOTE), obj.time, pos=pos,
                    sounds=[(obj.time, obj.hitsound, _sample_fields(obj.sample))])
        self._sustain(out, E.HOLD_NOTE_SUSTAIN, obj.time, obj.hold_end, pos=pos)
        self._group(out, Event(E.HOLD_NOTE_END), obj.hold_end, pos=pos)

    def _drumroll(self, obj: Slider, out: EventList) -> None:
        end = obj.time + int(obj.duration or 0.0)
        self._group(out, Event(E.DRUMROLL), obj.time, sounds=[(obj.time, obj.hitsound, _sample_fields(obj.sample))],
                    scroll_speed=self._sv_at(obj.time))
        self._sustain(out, E.DRUMROLL_SUSTAIN, obj.time, end)
        self._group(out, Event(E.DRUMROLL_END), end)

    def _denden(self, obj: Spinner, out: EventList) -> None:
        self._group(out, Event(E.DENDEN), obj.time, sounds=[(obj.time, obj.hitsound, _sample_fields(obj.sample))],
                    scroll_speed=self._sv_at(obj.time))
        self._sustain(out, E.DENDEN_SUSTAIN, obj.time, obj.spinner_end)
        self._group(out, Event(E.DENDEN_END), obj.spinner_end)

    def _sustain(self, out: EventList, kind: EventType, start: float, end: float, pos=None) -> None:
        interval = self.s.sustain_interval
        if not interval:
            return
        time = start + interval
        while time < end - 10:
            self._group(out, Event(kind), time, snap=False, pos=pos)
            time += interval

    # -- one group ---------------------------------------------------------------------------
    def _group(self, out: EventList, type_event: Event, time: float, *, timed: bool = True, snap: bool = True,
               pos=None, last_pos=None, new_combo: bool = False, sounds=None, scroll_speed: float | None = None):
        # The hottest function of tokenizing: flags are read once in __init__, events are built directly.
        when = int(time + 1e-5)  # whole ms, truncated, with a guard against float error
        events, times = out.events, out.times
        if self._types_first:
            events.append(type_event)
            times.append(when)
        if timed:
            events.append(_NEW(Event, (_TIME_SHIFT, when)))
            times.append(when)
            if snap and self._add_snapping:
                events.append(_NEW(Event, (_SNAPPING, self._snap(time))))
                times.append(when)
        if pos is not None:
            if self._positional:
                last_pos = self._position(events, times, pos, last_pos or PLAYFIELD_CENTRE, when)
            elif self._mania:
                keys = self._key_count
                column = pos[0] / 512 * keys
                column = 0 if column < 0 else (keys - 1 if column > keys - 1 else int(column))
                events.append(_NEW(Event, (_COLUMN, column)))
                times.append(when)
        if new_combo and self._positional:
            events.append(_NEW_COMBO_EVENT)
            times.append(when)
        if scroll_speed is not None:
            sv = MIN_SV if scroll_speed < MIN_SV else (MAX_SV if scroll_speed > MAX_SV else scroll_speed)
            events.append(_NEW(Event, (_SCROLL_SPEED, round(sv * 100))))
            times.append(when)
        if sounds and self._add_hitsounds:
            for ref_time, hitsound, fields in sounds:
                value, volume = self._hitsound(ref_time, hitsound, fields)
                events.append(_NEW(Event, (_HITSOUND, value)))
                events.append(_NEW(Event, (_VOLUME, volume)))
                times.append(when)
                times.append(when)
        if not self._types_first:
            events.append(type_event)
            times.append(when)
        return last_pos

    def _position(self, events: list, times: list, pos, last_pos, when: int):
        x, y = pos
        if self._add_distances:
            distance = math.hypot(x - last_pos[0], y - last_pos[1])
            events.append(_NEW(Event, (_DISTANCE, MAX_DISTANCE_PX if distance > MAX_DISTANCE_PX else int(distance))))
            times.append(when)
        if self._add_positions:
            p = self._precision
            (x_lo, x_hi), (y_lo, y_hi) = self._cell_x, self._cell_y
            cx, cy = x / p, y / p
            cx = int(x_lo if cx < x_lo else (x_hi if cx > x_hi else cx))
            cy = int(y_lo if cy < y_lo else (y_hi if cy > y_hi else cy))
            if self._split_axes:
                events.append(_NEW(Event, (_POS_X, cx)))
                events.append(_NEW(Event, (_POS_Y, cy)))
                times.append(when)
                times.append(when)
            else:
                events.append(_NEW(Event, (_POS, int((cx - x_lo) + (cy - y_lo) * self._cells_per_row))))
                times.append(when)
                refinement = self.s.position_refinement
                if refinement:
                    steps = p // refinement
                    rx = int(min(max((x % p) // refinement, 0), steps - 1))
                    ry = int(min(max((y % p) // refinement, 0), steps - 1))
                    events.append(_NEW(Event, (_POS_REFINE, rx + ry * steps)))
                    times.append(when)
        return pos

    def _snap(self, time: float) -> int:
        cached = self._snaps.get(time)
        if cached is None:
            cached = self._snaps[time] = self._compute_snap(time)
        return cached

    def _compute_snap(self, time: float) -> int:
        red = self.timing.red_line_at(time)
        if red is None or red.beat_length == 0 or math.isnan(red.beat_length):
            return 0
        # A negative beat length (a leading green line read as a red one, see `timing_as_read`)
        # passes the test below at divisor 1, as in the original.
        beats = (time - red.time) / red.beat_length
        if not math.isfinite(beats * MAX_SNAP_DIVISOR):  # beat lengths near 1e-300 (aspire maps): no grid
            return 0
        for divisor in range(1, MAX_SNAP_DIVISOR + 1):
            if abs(beats - round(beats * divisor) / divisor) * red.beat_length < SNAP_TOLERANCE_MS:
                return divisor
        return 0

    def _point_at(self, time: float) -> TimingPoint | None:
        point = self.timing.point_at(time)
        return point if point is not None else (self.timing.all[0] if self.timing.all else None)

    def _sv_at(self, time: float) -> float:
        point = self._point_at(time)
        if point is None or point.uninherited or not point.beat_length < 0:
            return 1.0
        return min(max(-100 / point.beat_length, MIN_SV), MAX_SV)

    def _hitsound(self, time: float, hitsound: int, fields: tuple[int, ...]) -> tuple[int, int]:
        point = self._point_at(time + HITSOUND_LOOKAHEAD_MS)
        point_set = (point.sample_set or DEFAULT_SAMPLE_SET) if point is not None else DEFAULT_SAMPLE_SET
        point_volume = point.volume if point is not None else 100
        sample_set = fields[0] if len(fields) > 0 and fields[0] else point_set
        addition_set = fields[1] if len(fields) > 1 and fields[1] else sample_set
        volume = fields[3] if len(fields) > 3 and fields[3] else point_volume
        sample_set = sample_set if 0 < sample_set < 4 else 1
        addition_set = addition_set if 0 < addition_set < 4 else 1
        value = (hitsound & 14) // 2 + 8 * (sample_set - 1) + 24 * (addition_set - 1)
        return value, (0 if volume < 0 else (100 if volume > 100 else int(volume)))


def _whole_ms_end(obj: HitObject) -> float:
    """An object's end as the original's parser holds it: slider durations in whole milliseconds."""
    if isinstance(obj, Slider):
        return obj.time + int(obj.duration or 0.0)
    return obj.end_time


def _sample_fields(sample: HitSample) -> tuple[int, int, int, int]:
    return sample.normal_set, sample.addition_set, sample.index, sample.volume


def _edge_fields(edges, index: int) -> tuple[int, int]:
    if 0 <= index < len(edges):
        return edges[index].normal_set, edges[index].addition_set
    return 0, 0


def _anchor_types(slider: Slider) -> list[tuple[int, EventType]]:
    """(control point index, anchor type) for the interior control points that become anchor groups."""
    points = [(p.x, p.y) for p in slider.path]
    n = len(points)
    kind = slider.curve_type
    if kind is CurveType.PERFECT and not is_perfect_arc(points):
        kind = CurveType.BEZIER  # osu! draws other "perfect" curves as Beziers
    if kind is CurveType.LINEAR:
        return [(i, E.RED_ANCHOR) for i in range(1, n - 1)]
    if kind is CurveType.CATMULL:
        return [(i, E.CATMULL_ANCHOR) for i in range(1, n - 1)]
    if kind is CurveType.PERFECT:
        return [(i, E.PERFECT_ANCHOR) for i in range(1, n - 1)]
    anchors = []
    for i in range(1, n - 1):
        if points[i] == points[i + 1]:
            anchors.append((i, E.RED_ANCHOR))  # a doubled point is a sharp corner; its twin is dropped
        elif points[i] != points[i - 1]:
            anchors.append((i, E.BEZIER_ANCHOR))
    return anchors


def timing_as_read(points: list[TimingPoint]) -> list[TimingPoint]:
    """The timing points as the published models' parser (the `slider` library) reads them: an
    inherited point has the last red line before it as its parent, and the first point has none, so
    a green line that opens the list counts as a red line with its own (negative) beat length. Its
    objects snap at divisor 1, its scroll speed is 1 (BPM-normalised: clipped to 0.01), and it
    gives no timing ticks. The beatmap itself keeps it as the green line it is."""
    if not points or points[0].uninherited:
        return points
    return [dataclasses.replace(points[0], uninherited=True)] + points[1:]


def median_beat_length(beatmap: Beatmap, points: list[TimingPoint] | None = None) -> float:
    """The beat length that lasts longest up to the last object start, as osu! stable computes it.

    Times are whole seconds, as the training code measured them (`timedelta.seconds`): an offset
    of 61.9 s counts as 61000 ms, and a negative one wraps to the end of a day and is skipped.
    `points`: the timing as read (`timing_as_read`), else the beatmap's own."""
    points = beatmap.timing_points if points is None else points
    if not beatmap.hit_objects:
        reds = [tp.beat_length for tp in points if tp.uninherited and tp.beat_length > 0]
        return reds[0] if reds else 500.0
    last_time = _whole_seconds_ms(max(o.end_time if isinstance(o, HoldNote) else o.time for o in beatmap.hit_objects))
    durations: dict[float, int] = {}
    beat_length = 0.0
    for index in range(len(points) - 1, -1, -1):
        tp = points[index]
        offset = _whole_seconds_ms(tp.time)
        if tp.uninherited:
            beat_length = tp.beat_length
        if beat_length == 0 or offset > last_time or (not tp.uninherited and index > 0):
            continue
        durations[beat_length] = durations.get(beat_length, 0) + int(last_time - (0 if index == 0 else offset))
        last_time = offset
    longest, median = 0, 0.0
    for length, duration in durations.items():  # the first of equal durations wins
        if duration > longest:
            longest, median = duration, length
    return median if median else 500.0


def _whole_seconds_ms(time_ms: float) -> int:
    """`timedelta(milliseconds=t).seconds * 1000`: whole seconds (floored), wrapped into one day."""
    return (round(time_ms * 1000) // 1_000_000 % 86_400) * 1000
