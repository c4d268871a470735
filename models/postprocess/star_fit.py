"""A written map's star rating brought to the one asked for, as a mapper adjusts a finished map: for a model
that places objects on times heard in the audio (`models.generation.audio_rhythm`), whose density was
chosen on a stand-in map before the model chose the types, positions and chords that also move the rating.

- osu! and catch: the distance spacing (in catch the moves between fruits). Every jump (from where one object ends to where the next one starts) is
  scaled by one factor, found by bisection on rosu-pp's rating between SPACING_SCALES, as a mapper turns
  the editor's distance spacing; a step that would leave the playfield is mirrored back into it (its
  length kept), sliders move whole. A map whose objects collapse onto a few spots (the starter puts most of
  them on two or three) or whose osu! jumps mostly turn right back has no spacing worth scaling: an osu! map is laid out distance snapped instead
  (`models.postprocess.layout`), the snap turned up or down to the ask; a catch map as the stand-in catch map was, its moves
  made faster or slower.
- mania: a map whose notes are piled into the same columns (the starter puts most in one) is laid out
  as the stand-in was, columns in turn.
- any mode still rated above the ask (mania chords, a dense taiko or catch map): the objects on the
  weakest onsets go first (in mania a chord's further notes before its first, as the stand-in ranked
  them), as many as bring the rating down to the ask, again by bisection.

A map rated within STAR_TOLERANCE of the ask is left as it is (unless its layout is laid out anew or its mania
columns are piled: those are made anew all the same); one rated below it with nothing left to
scale stays below (no objects are invented).
"""

from __future__ import annotations

import copy
from collections import Counter

from models.postprocess.layout import (
    DISTANCE_SNAP,
    DISTANCE_SNAPS,
    flowing,
    needs_new_layout,
    walked,
)
from models.postprocess.playfield import PLAYFIELD, end_point, inside_shift, translate
from tokenization.beatmap import Beatmap, GameMode, Spinner

STAR_TOLERANCE = 0.25  # stars: closer than this is on target, nothing is changed
SPACING_SCALES = (0.4, 3.0)  # the factors a distance spacing is searched between
BISECTION_STEPS = 10
SCAN_STEPS = 8
# A mania map whose notes mostly repeat the column of a note at the same or the previous time (the model
# piling them into one column: unplayable chords, jacks at every step) is laid out as the stand-in was.
MOST_PILED = 0.5

def beatmap_stars(beatmap: Beatmap) -> float:
    """rosu-pp's star rating of `beatmap` as it would be written; 0 for a map rosu-pp cannot rate."""
    import rosu_pp_py as rosu

    from tokenization.osu_writer import format_beatmap

    try:
        return float(rosu.Difficulty().calculate(rosu.Beatmap(content=format_beatmap(beatmap))).stars)
    except Exception:  # noqa: BLE001 - rosu-pp's own errors: an unrated map counts as no stars
        return 0.0


def fit_to_stars(beatmap: Beatmap, stars: float, strengths: dict[float, float]) -> float:
    """Bring `beatmap` (changed in place) to about `stars`; `strengths` gives each object time's onset
    strength (ms -> strength). Returns the rating it ends at."""
    rating = beatmap_stars(beatmap)
    piled = beatmap.general.mode is GameMode.MANIA and bool(beatmap.hit_objects) and _piled_share(beatmap) > MOST_PILED
    # a layout worth nothing is made anew even where the map already rates as asked
    if not beatmap.hit_objects or (abs(rating - stars) <= STAR_TOLERANCE and not piled
                                   and not needs_new_layout(beatmap)):
        return rating
    if beatmap.general.mode in (GameMode.OSU, GameMode.CATCH):  # catch: the moves between fruits
        rating = _fit_spacing(beatmap, stars)
    elif piled:
        beatmap.hit_objects = columns_in_turn(beatmap.hit_objects, _keys(beatmap))
        rating = beatmap_stars(beatmap)
    if rating > stars + STAR_TOLERANCE:
        rating = _thin(beatmap, stars, strengths)
    return rating


def _fit_spacing(beatmap: Beatmap, stars: float) -> float:
    """Scale the jumps (or, for a collapsed osu! map, the distance snap of its new layout) by the factor whose
    rating is nearest `stars`; returns that rating."""
    original = beatmap.hit_objects
    collapsed = needs_new_layout(beatmap)  # no layout worth scaling: laid out anew
    scales = SPACING_SCALES
    if collapsed and beatmap.general.mode is GameMode.OSU:  # distance snapped, the snap turned up or down
        scales = DISTANCE_SNAPS

        def layout(scale: float) -> list:
            return flowing(beatmap, original, DISTANCE_SNAP * scale)
    elif collapsed:  # catch: as the stand-in was (the layout its density was chosen on), its moves longer or shorter
        def layout(scale: float) -> list:
            return walked(beatmap, original, scale)
    else:
        def layout(scale: float) -> list:
            return scaled_spacing(original, scale)

    ratings: dict[float, float] = {}

    def rating(scale: float) -> float:
        if scale not in ratings:
            beatmap.hit_objects = layout(scale)
            ratings[scale] = beatmap_stars(beatmap)
        return ratings[scale]

    # A rating need not grow all the way with the scale (long jumps bounce off the playfield's edges and come
    # out shorter; a new layout's turns change with its snap), so every scale of a grid is looked at, and the
    # first step that crosses the ask is bisected; the nearest of all wins.
    low, high = scales
    grid = [low * (high / low) ** (k / (SCAN_STEPS - 1)) for k in range(SCAN_STEPS)]
    rated = [rating(scale) for scale in grid]
    above = next((k for k, value in enumerate(rated) if value >= stars), None)
    if above:  # rating(grid[above - 1]) < stars <= rating(grid[above])
        low, high = grid[above - 1], grid[above]
        for _ in range(BISECTION_STEPS):
            middle = (low + high) / 2
            if rating(middle) < stars:
                low = middle
            else:
                high = middle
    best = min([*ratings, 1.0], key=lambda scale: abs(rating(scale) - stars))
    beatmap.hit_objects = layout(best)
    return rating(best)


def scaled_spacing(objects: list, scale: float) -> list:
    """Copies of `objects` with every jump (previous end -> next start) times `scale`, on the playfield."""
    out = []
    end_before = end_after = None  # the previous object's end, as written and as moved
    for obj in objects:
        moved = copy.deepcopy(obj)
        if not isinstance(obj, Spinner):  # a spinner's position means nothing; the next jump starts where the last ended
            if end_before is not None:
                step = ((obj.x - end_before[0]) * scale, (obj.y - end_before[1]) * scale)
                translate(moved, inside_shift(obj, end_after, step))
            end_before, end_after = end_point(obj), end_point(moved)
        out.append(moved)
    return out


def _keys(beatmap: Beatmap) -> int:
    return max(1, int(round(beatmap.difficulty.circle_size)))


def _column(obj, keys: int) -> int:
    return min(keys - 1, max(0, int(obj.x * keys / PLAYFIELD[0])))


def _piled_share(beatmap: Beatmap) -> float:
    """Share of a mania map's notes in the same column as a note at the same or the previous time."""
    keys, by_time = _keys(beatmap), {}
    for obj in beatmap.hit_objects:
        by_time.setdefault(obj.time, []).append(_column(obj, keys))
    times = sorted(by_time)
    piled, before = 0, []
    for time in times:
        columns = by_time[time]
        piled += sum(1 for i, c in enumerate(columns) if c in before or c in columns[:i])
        before = columns
    return piled / max(1, len(beatmap.hit_objects))


def columns_in_turn(objects: list, keys: int) -> list:
    """Copies of mania `objects` laid out as the stand-in map was: each note in the next column in turn that
    is free (no note of its chord there, no hold note still held), so a chord never doubles a column."""
    out, turn, held_until = [], 0, [float("-inf")] * keys
    chord_time, chord = None, set()
    for obj in sorted(objects, key=lambda o: o.time):
        if obj.time != chord_time:
            chord_time, chord = obj.time, set()
        free = [c for c in ((turn + i) % keys for i in range(keys)) if c not in chord and held_until[c] < obj.time]
        if not free:
            continue  # every column busy: the note cannot be played, it goes
        column = free[0]
        moved = copy.deepcopy(obj)
        moved.x = int((column + 0.5) * PLAYFIELD[0] / keys)
        held_until[column] = getattr(obj, "hold_end", obj.time)
        chord.add(column)
        turn = column + 1
        out.append(moved)
    return out


def _thin(beatmap: Beatmap, stars: float, strengths: dict[float, float]) -> float:
    """Keep the strongest objects, as many as rate nearest `stars`; returns that rating."""
    from models.generation.audio_rhythm import count_for_stars, note_priority

    mode, keys = int(beatmap.general.mode), max(1, int(beatmap.difficulty.circle_size))
    seen: Counter = Counter()
    priority = []
    for index, obj in enumerate(beatmap.hit_objects):
        key = round(obj.time)
        priority.append((note_priority(strengths.get(key, 0.0), seen[key], gamemode=mode, keycount=keys), -index))
        seen[key] += 1
    order = sorted(range(len(priority)), key=lambda i: priority[i], reverse=True)
    original = beatmap.hit_objects

    def rating(count: int) -> float:
        kept = sorted(order[:count])
        beatmap.hit_objects = [original[i] for i in kept]
        return beatmap_stars(beatmap)

    return rating(count_for_stars(rating, stars, len(original)))
