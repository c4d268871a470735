"""Objects on the grid of the red lines as they are written, for a map whose object times were chosen on a
grid before the map was built (`models.generation.audio_rhythm`): building may still move the first red line
back by whole measures to precede a green line (`timing_changes`, whole milliseconds, as the original does),
which shifts its grid by a fraction of a millisecond. Each object's head (and hold note's end) within
SNAP_WITHIN_MS of a grid point of the red line in force goes to that point, cast to whole milliseconds as
the editor stores a snapped object; anything farther is left where it is. Before that, `on_heard_times`
holds every object to the times it was decoded for: one within a time step of a heard time goes to it, one
farther from any (a window's edge at the song's end can leave one) goes."""

from __future__ import annotations

import bisect

import numpy as np

from models.timing.fit import RedLine
from models.timing.rhythm_candidates import DEFAULT_DIVISORS, editor_time, grid_point
from tokenization.beatmap import Beatmap, GameMode, HoldNote

SNAP_WITHIN_MS = 2.0  # a measure shift moves the grid by under 1 ms; the cast adds under 1 ms more
HEARD_WITHIN_MS = 10.0  # one time step of the tokenizer


def on_heard_times(beatmap: Beatmap, heard_ms: list[float]) -> int:
    """Objects (in place) at the heard times they were held to; those off every heard time dropped, and outside
    mania (where a time holds a chord) a second object on a time already taken (two objects held to one time:
    a modder's "starts before the other ends"). How many were dropped."""
    heard = np.unique(np.asarray(heard_ms, dtype=np.float64))
    if not len(heard):
        return 0
    chords = beatmap.general.mode is GameMode.MANIA
    kept, taken = [], set()
    for obj in beatmap.hit_objects:
        nearest = float(heard[np.abs(heard - obj.time).argmin()])
        if abs(nearest - obj.time) <= HEARD_WITHIN_MS and (chords or nearest not in taken):
            taken.add(nearest)
            if isinstance(obj, HoldNote):
                obj.hold_end += nearest - obj.time
            obj.time = _whole(nearest)
            kept.append(obj)
    dropped = len(beatmap.hit_objects) - len(kept)
    beatmap.hit_objects = kept
    return dropped


def snap_to_written_grid(beatmap: Beatmap) -> int:
    """Move the objects of `beatmap` (in place) onto its written grid; how many times changed."""
    lines = sorted((RedLine(offset=tp.time, ms_per_beat=tp.beat_length) for tp in beatmap.timing_points
                    if tp.uninherited and tp.beat_length > 0), key=lambda line: line.offset)
    if not lines:
        return 0
    starts = [line.offset for line in lines]

    def snapped(time: float) -> float:
        line = lines[max(bisect.bisect_right(starts, time) - 1, 0)]
        nearest = min((grid_point(time, line, d) for d in DEFAULT_DIVISORS), key=lambda point: abs(point - time))
        return editor_time(nearest) if abs(nearest - time) <= SNAP_WITHIN_MS else time

    changed = 0
    for obj in beatmap.hit_objects:
        time = snapped(obj.time)
        changed += time != obj.time
        obj.time = _whole(time)
        if isinstance(obj, HoldNote):
            obj.hold_end = _whole(snapped(obj.hold_end))
    return changed


def _whole(time: float) -> float | int:
    return int(time) if time == int(time) else time
