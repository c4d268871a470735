"""New combos by measure, for an osu! or catch map whose model strung its objects into combos far too long.

A combo's number and colour tell the player how the map is phrased; mappers start one on the first object of a
measure (or of two, when the objects are few), and split a dense measure in halves. The corpus's osu! and catch
maps of 50 objects or more have combos of 4-5 objects (median by star band) and rarely over 12; the starter's
maps of Battlecry at 2.5 stars had a median combo of 28 objects (`combos_too_long`). Such a map gets its combos
anew (`combos_by_measure`): a new combo on the first object of each measure (of each half of a measure of more
than SPLIT_COMBO objects) once the combo holds MIN_COMBO objects, on a spinner and after it; the model's other
combo choices (a combo's colour skips) are dropped with its combos.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tokenization.beatmap import Beatmap, GameMode, Spinner

MIN_OBJECTS = 20  # fewer objects say nothing about a map's combos
LONG_COMBO = 12  # real maps' longest combos: 7-13 objects (median by star band)
MOST_IN_LONG = 0.25  # a map with more of its objects in combos over LONG_COMBO has its combos made anew
MIN_COMBO = 4  # a combo of fewer objects goes on into the next measure (real combos: 4-5 objects)
SPLIT_COMBO = 8  # a measure of more objects than this gets a combo for each half


def combos_too_long(beatmap: Beatmap) -> bool:
    """Whether an osu! or catch map of MIN_OBJECTS or more has over MOST_IN_LONG of its objects in combos of
    more than LONG_COMBO objects."""
    objects = beatmap.hit_objects
    if beatmap.general.mode not in (GameMode.OSU, GameMode.CATCH) or len(objects) < MIN_OBJECTS:
        return False
    starts = [index for index, obj in enumerate(objects) if index == 0 or obj.new_combo]
    lengths = np.diff([*starts, len(objects)])
    return float(lengths[lengths > LONG_COMBO].sum()) > MOST_IN_LONG * len(objects)


def combos_by_measure(beatmap: Beatmap) -> None:
    """Set every object's new combo (in place) as the module docstring says; a combo's colour skips are dropped."""
    from tokenization.timing import TimingIndex

    timing = TimingIndex(beatmap.timing_points)
    places = []  # (red line, measure under it, half of the measure) of each object
    for obj in beatmap.hit_objects:
        line = timing.red_line_at(obj.time)
        offset, meter = (line.time, max(1, line.meter)) if line is not None else (0.0, 4)
        measures = (obj.time - offset) / (timing.beat_length_at(obj.time) * meter) + 1e-6
        places.append((offset, math.floor(measures), math.floor(2 * measures) % 2))
    per_measure = Counter(place[:2] for place in places)
    count, phrase, after_spinner = 0, None, False
    for index, (obj, place) in enumerate(zip(beatmap.hit_objects, places)):
        here = place if per_measure[place[:2]] > SPLIT_COMBO else place[:2]  # a dense measure: by its halves
        new = (index == 0 or after_spinner or isinstance(obj, Spinner) or (here != phrase and count >= MIN_COMBO))
        obj.new_combo, obj.combo_skip = new, 0
        count = 1 if new else count + 1
        phrase, after_spinner = here, isinstance(obj, Spinner)
