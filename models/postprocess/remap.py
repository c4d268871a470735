"""Add-to-beatmap: splice a generated section into the reference map it was made for.

The reference keeps everything outside [start, end]; inside, its objects and timing points give
way to the generated ones. Where the section begins the generated map's tempo, slider velocity
and kiai are put in force, and where it ends the reference's are restored, so the objects on
either side play exactly as their timing says.
"""

from __future__ import annotations

import copy
import dataclasses
import math

from tokenization.beatmap import Beatmap, TimingPoint


def in_span(time: float, start: float | None, end: float | None) -> bool:
    return (start is None or time >= start) and (end is None or time <= end)


def splice(reference: Beatmap, generated: Beatmap, start: float | None, end: float | None) -> Beatmap:
    """A copy of `reference` with [start, end] (ms; None is open-ended) taken from `generated`."""
    merged = copy.deepcopy(reference)
    merged.hit_objects = sorted(
        [o for o in reference.hit_objects if not in_span(o.time, start, end)]
        + [copy.deepcopy(o) for o in generated.hit_objects if in_span(o.time, start, end)], key=lambda o: o.time)
    points = [tp for tp in reference.timing_points if not in_span(tp.time, start, end)]
    points += [dataclasses.replace(tp) for tp in generated.timing_points if in_span(tp.time, start, end)]
    if reference.timing_points and generated.timing_points:
        if start is not None:
            points += _handover(generated.timing_points, reference.timing_points, start, points)
        if end is not None:
            points += _handover(reference.timing_points, generated.timing_points, end + 1, points)
    merged.timing_points = sorted(points, key=lambda tp: (tp.time, not tp.uninherited))
    return merged


def _handover(incoming: list[TimingPoint], outgoing: list[TimingPoint], time: float,
              present: list[TimingPoint]) -> list[TimingPoint]:
    """Points at `time` that make the incoming map's timing govern from there on: a red line on the
    incoming beat grid if the tempo, meter or beat phase differ, and a green line for its velocity,
    volume and kiai if those differ."""
    added: list[TimingPoint] = []
    new_red, old_red = _red_at(incoming, time), _red_at(outgoing, time)
    if new_red is not None and (old_red is None or not _same_grid(new_red, old_red)):
        beats = math.ceil((time - new_red.time) / new_red.beat_length - 1e-9) if new_red.time < time else 0
        aligned = new_red.time + beats * new_red.beat_length
        if not any(tp.uninherited and abs(tp.time - aligned) < 1 for tp in present):
            added.append(dataclasses.replace(new_red, time=aligned))
    new_state, old_state = _state_at(incoming, time), _state_at(outgoing, time)
    if new_state != old_state and not any(not tp.uninherited and tp.time == time for tp in present):
        sv, volume, effects, sample_set, sample_index = new_state
        added.append(TimingPoint(time, -100.0 / sv, uninherited=False, volume=volume, effects=effects,
                                 sample_set=sample_set, sample_index=sample_index))
    return added


def _red_at(points: list[TimingPoint], time: float) -> TimingPoint | None:
    reds = [tp for tp in points if tp.uninherited and tp.time <= time]
    return reds[-1] if reds else next((tp for tp in points if tp.uninherited), None)


def _same_grid(a: TimingPoint, b: TimingPoint) -> bool:
    if abs(a.beat_length - b.beat_length) > 1e-3 or a.meter != b.meter:
        return False
    phase = (a.time - b.time) / a.beat_length
    return abs(phase - round(phase)) * a.beat_length < 1.0


def _state_at(points: list[TimingPoint], time: float) -> tuple:
    """(slider velocity, volume, kiai bit, sample set, sample index) in force at `time`."""
    current = sorted((tp for tp in points if tp.time <= time), key=lambda tp: (tp.time, not tp.uninherited))
    if not current:
        return (1.0, 100, 0, 0, 0)
    last = current[-1]
    sv = 1.0
    if not last.uninherited and last.beat_length < 0:
        sv = round(-100.0 / last.beat_length, 4)
    return (sv, last.volume, last.effects & 1, last.sample_set, last.sample_index)
