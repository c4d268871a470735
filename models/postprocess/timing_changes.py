"""Edits of a timing-point list, as the published postprocessor makes them (its port of Mapping
Tools' TimingPointsChange): every slider velocity, hitsound volume and kiai toggle of a generated
map is one change applied to the red lines in the order the objects come.

A change carries a template point and says which of its fields to apply. Points within
`FUZZINESS_MS` of its time are edited; where none is there, a green line copied from the point in
force is added, but only if it changes something. A green line wanted before the first red line
moves that red line back by whole measures (its tempo and phase kept) so that the green line has a
parent. With `all_after`, sample set, index, volume and kiai are pushed to every later point, so a
volume set at an object holds until the next change. At the end, points before the first red line
are dropped (`drop_before_first_red`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tokenization.beatmap import TimingPoint

FUZZINESS_MS = 2.0  # points this close to a change's time are the ones it edits
GREEN_BEAT_LENGTH = -100.0  # a fresh green line: SV 1
DEFAULT_RED_BEAT_LENGTH = 1000.0  # ms; a red line made where there is none at all (60 BPM)
GENERATED_SAMPLE_SET = 2  # soft, with the timing point's sample index (-1: the skin's)
GENERATED_SAMPLE_INDEX = -1
SV_EPSILON = 1e-10  # the original adds it to -100/SV, so an SV of exactly 1 still differs from a red line


@dataclass
class TimingChange:
    point: TimingPoint  # the template: its time, and the values of the fields below
    beat_length: bool = False
    meter: bool = False
    sample_set: bool = False
    sample_index: bool = False
    volume: bool = False
    uninherited: bool = False
    kiai: bool = False

    def apply(self, points: list[TimingPoint], all_after: bool = False) -> list[TimingPoint]:
        """The points with this change made (the list is edited in place and returned sorted)."""
        time = self.point.time
        previous = None
        on: list[TimingPoint] = []
        for tp in points:
            if tp.time < time and (previous is None or tp.time >= previous.time):
                previous = tp
            if abs(tp.time - time) <= FUZZINESS_MS:
                on.append(tp)
        on_red = any(tp.uninherited for tp in on)
        on_green = any(not tp.uninherited for tp in on)
        if on:
            previous = on[-1]

        adding = None
        if self.uninherited and not on_red:
            adding = dataclasses.replace(previous if previous is not None else self.point, time=time,
                                         uninherited=True)
            on.append(adding)
        if not self.uninherited and (not on or (self.beat_length and not on_green)):
            if previous is None:
                previous = _red_line_before(time, points)
            adding = dataclasses.replace(previous, time=time, uninherited=False)
            if previous.uninherited:
                adding.beat_length = GREEN_BEAT_LENGTH
            on.append(adding)

        for tp in on:
            if self.beat_length and self.uninherited == tp.uninherited:
                tp.beat_length = self.point.beat_length
            if self.meter and self.uninherited and tp.uninherited:
                tp.meter = self.point.meter
            self._copy_sounds(tp)

        if adding is not None and (previous is None or self.uninherited or not _same_effect(adding, previous)):
            points.append(adding)
        if all_after:
            for tp in points:
                if tp.time > time:
                    self._copy_sounds(tp)
        points.sort(key=lambda tp: (tp.time, not tp.uninherited))  # stable: red before green at one time
        return points

    def _copy_sounds(self, tp: TimingPoint) -> None:
        if self.sample_set:
            tp.sample_set = self.point.sample_set
        if self.sample_index:
            tp.sample_index = self.point.sample_index
        if self.volume:
            tp.volume = self.point.volume
        if self.kiai:
            tp.effects = (tp.effects & ~TimingPoint.KIAI) | (self.point.effects & TimingPoint.KIAI)


def _same_effect(a: TimingPoint, b: TimingPoint) -> bool:
    return (a.beat_length == b.beat_length and a.meter == b.meter and a.sample_set == b.sample_set
            and a.sample_index == b.sample_index and a.volume == b.volume and a.uninherited == b.uninherited
            and a.kiai == b.kiai)


def _red_line_before(time: float, points: list[TimingPoint]) -> TimingPoint:
    """A red line at or before `time`: the first one moved back by whole measures when it comes
    later, or a 60 BPM one made at `time` when there is none."""
    reds = [tp for tp in points if tp.uninherited]
    if not reds:
        red = TimingPoint(time, DEFAULT_RED_BEAT_LENGTH, 4, GENERATED_SAMPLE_SET, GENERATED_SAMPLE_INDEX, 100)
        points.append(red)
        return red
    first = min(reds, key=lambda tp: tp.time)
    if first.time > time:
        measure_ms = first.beat_length * first.meter
        measures = math.ceil((first.time - time) / measure_ms)
        # the original keeps times in microseconds and writes whole milliseconds, rounded down
        first.time = math.floor(round((first.time - measures * measure_ms) * 1000) / 1000)
    return first


def set_volume(points: list[TimingPoint], time: float, volume: int) -> list[TimingPoint]:
    """A hitsound volume from `time` on; the sample index goes back to the skin's (-1) with it."""
    template = TimingPoint(time, GREEN_BEAT_LENGTH, 4, GENERATED_SAMPLE_SET, GENERATED_SAMPLE_INDEX,
                           max(0, min(100, volume)), uninherited=False)
    return TimingChange(template, volume=True, sample_index=True).apply(points, all_after=True)


def set_slider_velocity(points: list[TimingPoint], time: float, sv: float) -> list[TimingPoint]:
    """A green line of this SV at `time` (an SV of 0 means none)."""
    if sv == 0:
        return points
    template = TimingPoint(time, -100.0 / sv + SV_EPSILON, 4, GENERATED_SAMPLE_SET, GENERATED_SAMPLE_INDEX, 100,
                           uninherited=False)
    return TimingChange(template, beat_length=True).apply(points, all_after=True)


def set_kiai(points: list[TimingPoint], time: float, on: bool) -> list[TimingPoint]:
    template = TimingPoint(time, GREEN_BEAT_LENGTH, 4, GENERATED_SAMPLE_SET, GENERATED_SAMPLE_INDEX, 100,
                           uninherited=False, effects=TimingPoint.KIAI if on else 0)
    return TimingChange(template, kiai=True).apply(points, all_after=True)


def slider_velocity_at(points: list[TimingPoint], time: float) -> float:
    """SV in force at `time` as the original reads it: 1 on a red line, -100/beat length on a green
    one (unclamped); the first point governs times before it."""
    current = next((tp for tp in reversed(points) if tp.time <= time), points[0])
    return 1.0 if current.uninherited else -100.0 / current.beat_length


def red_line_at(points: list[TimingPoint], time: float) -> TimingPoint:
    reds = [tp for tp in points if tp.uninherited]
    return next((tp for tp in reversed(reds) if tp.time <= time), reds[0])


def drop_before_first_red(points: list[TimingPoint]) -> list[TimingPoint]:
    """Green lines before the first red line have no tempo to inherit: the original drops them."""
    first = next((tp for tp in points if tp.uninherited), None)
    return points if first is None else [tp for tp in points if tp.time >= first.time]
