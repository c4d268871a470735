"""Values derived from a beatmap's timing: the red line and slider velocity at a time, slider
durations, object end times, combo numbers and snap divisors.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tokenization.beatmap import Beatmap, GameMode, HitObject, Slider, Spinner, TimingPoint

DEFAULT_BEAT_LENGTH_MS = 1000.0  # osu!'s default when a map has no red line
SNAP_DIVISORS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
SNAP_TOLERANCE_MS = 2.0
PX_PER_SLIDER_MULTIPLIER = 100.0  # SliderMultiplier 1 moves 100 px per beat


class TimingIndex:
    """Fast lookups over a beatmap's timing points (sorted by time; red before green at equal times)."""

    def __init__(self, timing_points: list[TimingPoint]):
        points = sorted(timing_points, key=lambda tp: tp.time)
        self.red = [tp for tp in points if tp.uninherited]
        self.red_times = [tp.time for tp in self.red]
        self.all = points
        self.all_times = [tp.time for tp in points]

    def red_line_at(self, time: float) -> TimingPoint | None:
        """The red line governing `time` (the first one for times before it), None without any."""
        if not self.red:
            return None
        index = bisect.bisect_right(self.red_times, time) - 1
        return self.red[max(index, 0)]

    def beat_length_at(self, time: float) -> float:
        red = self.red_line_at(time)
        return red.beat_length if red is not None and red.beat_length > 0 else DEFAULT_BEAT_LENGTH_MS

    def point_at(self, time: float) -> TimingPoint | None:
        """The last timing point of either kind at or before `time`."""
        index = bisect.bisect_right(self.all_times, time) - 1
        return self.all[index] if index >= 0 else None

    def slider_velocity_at(self, time: float) -> float:
        """SV multiplier at `time`: a red line resets it to 1 unless a green line at the same time sets it."""
        index = bisect.bisect_right(self.all_times, time) - 1
        if index < 0:
            return 1.0
        point = self.all[index]
        if point.uninherited:
            return 1.0
        return point.slider_velocity

    def kiai_at(self, time: float) -> bool:
        point = self.point_at(time)
        return point.kiai if point is not None else False

    def slider_span_duration(self, slider: Slider, slider_multiplier: float) -> float:
        """Milliseconds for one pass along the slider."""
        px_per_beat = PX_PER_SLIDER_MULTIPLIER * slider_multiplier * self.slider_velocity_at(slider.time)
        if px_per_beat <= 0:
            return 0.0
        return slider.length / px_per_beat * self.beat_length_at(slider.time)

    def slider_duration(self, slider: Slider, slider_multiplier: float) -> float:
        return self.slider_span_duration(slider, slider_multiplier) * slider.slides

    def snap_divisor(self, time: float, tolerance_ms: float = SNAP_TOLERANCE_MS,
                     divisors: tuple[int, ...] = SNAP_DIVISORS) -> int:
        """The smallest divisor whose grid hits `time` within the tolerance; 0 when none does."""
        red = self.red_line_at(time)
        if red is None or red.beat_length <= 0:
            return 0
        return snap_divisor(time, red.time, red.beat_length, tolerance_ms, divisors)


def snap_divisor(time: float, offset: float, beat_length: float, tolerance_ms: float = SNAP_TOLERANCE_MS,
                 divisors: tuple[int, ...] = SNAP_DIVISORS) -> int:
    for divisor in divisors:
        step = beat_length / divisor
        remainder = (time - offset) % step
        if min(remainder, step - remainder) <= tolerance_ms:
            return divisor
    return 0


def object_end_time(obj: HitObject) -> float:
    return obj.end_time


@dataclass(frozen=True)
class ComboInfo:
    number: int  # 1-based position in its combo
    combo_index: int  # 0-based index of the combo in the map
    colour_index: int  # index into the combo colours, after colour skips


def combo_numbers(beatmap: Beatmap) -> list[ComboInfo]:
    """Combo number and colour of each object, as osu! shows them (osu! and catch modes)."""
    infos: list[ComboInfo] = []
    number, combo, colour = 0, -1, 0
    previous: HitObject | None = None
    for index, obj in enumerate(beatmap.hit_objects):
        starts = (index == 0 or obj.new_combo or isinstance(obj, Spinner)
                  or (isinstance(previous, Spinner) and beatmap.mode is GameMode.OSU))
        if starts:
            if combo >= 0:
                colour += 1 + (obj.combo_skip if obj.new_combo else 0)
            combo += 1
            number = 0
        number += 1
        infos.append(ComboInfo(number, combo, colour))
        previous = obj
    return infos
