"""A written map's star rating brought to the one asked for, as a mapper adjusts a finished map: for a model
that places objects on times heard in the audio (`models.generation.audio_rhythm`), whose density was
chosen on a stand-in map before the model chose the types, positions and chords that also move the rating.

- osu! and catch: the distance spacing (in catch the moves between fruits). Every jump (from where one object ends to where the next one starts) is
  scaled by one factor, found by bisection on rosu-pp's rating between SPACING_SCALES, as a mapper turns
  the editor's distance spacing; a step that would leave the playfield is mirrored back into it (its
  length kept), sliders move whole. A map whose objects collapse onto a few spots (the starter puts most of
  them on two or three) has no spacing worth scaling: an osu! map is laid out distance snapped instead
  (`flowing`), the snap turned up or down to the ask; a catch map as the stand-in catch map was, its moves
  made faster or slower.
- mania: a map whose notes are piled into the same columns (the starter puts most in one) is laid out
  as the stand-in was, columns in turn.
- any mode still rated above the ask (mania chords, a dense taiko or catch map): the objects on the
  weakest onsets go first (in mania a chord's further notes before its first, as the stand-in ranked
  them), as many as bring the rating down to the ask, again by bisection.

A map rated within STAR_TOLERANCE of the ask is left as it is; one rated below it with nothing left to
scale stays below (no objects are invented).
"""

from __future__ import annotations

import copy
import math
from collections import Counter

from tokenization.beatmap import Beatmap, GameMode, Slider, Spinner

STAR_TOLERANCE = 0.25  # stars: closer than this is on target, nothing is changed
SPACING_SCALES = (0.4, 3.0)  # the factors a distance spacing is searched between
BISECTION_STEPS = 10
SCAN_STEPS = 8
PLAYFIELD = (512.0, 384.0)
# A mania map whose notes mostly repeat the column of a note at the same or the previous time (the model
# piling them into one column: unplayable chords, jacks at every step) is laid out as the stand-in was.
MOST_PILED = 0.5
# A map with most of its objects on COLLAPSED_SPOTS spots (8 px cells) has no layout worth scaling: the
# starter's osu! maps of the README clip (2-5.5 stars) put 80-94 % of their objects on four spots, jumping
# back and forth between them, while the corpus's 78 osu! maps of 50 objects or more put 1-29 % on their
# four most used spots (median 5 %).
COLLAPSED_SPOTS = 4
MOST_COLLAPSED = 0.5
SPOT_CELL_PX = 8
# The layout such a map gets: distance snapped as the editor does it (this many times the slider velocity's
# distance for the time between an object's end and the next start; a pause moves no further than
# MAX_STEP_BEATS' distance), each jump turning from the last as a path around a circle of FLOW_RADIUS_PX does
# (a stream curves gently, big jumps make triangles and squares), the other way round from each new combo on,
# bouncing off the playfield's margins. `_fit_spacing` scales the snap to the ask, as a mapper turns the
# distance snap up for a harder map.
DISTANCE_SNAP = 1.0
# ... turned between these: up to 4.5x (a 1/2-beat jump at 180 BPM of 315 px, its bounces off the margins
# shortening the longest), which a map of sliders over held sounds needs to reach 5.5 stars on the README
# clip (3x gave 4.89)
DISTANCE_SNAPS = (0.4, 4.5)
FLOW_RADIUS_PX = 120.0  # a circle this wide fits the playfield (384 px high) with its margins
MAX_STEP_BEATS = 1.0
FLOW_MARGIN_PX = 32.0  # the path bounces this far inside the playfield's edges
OSU_PX_PER_BEAT = 100.0  # at slider velocity 1: osu!'s distance per beat, times the map's slider multiplier


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
    if not beatmap.hit_objects or abs(rating - stars) <= STAR_TOLERANCE:
        return rating
    if beatmap.general.mode in (GameMode.OSU, GameMode.CATCH):  # catch: the moves between fruits
        rating = _fit_spacing(beatmap, stars)
    elif beatmap.general.mode is GameMode.MANIA and _piled_share(beatmap) > MOST_PILED:
        beatmap.hit_objects = columns_in_turn(beatmap.hit_objects, _keys(beatmap))
        rating = beatmap_stars(beatmap)
    if rating > stars + STAR_TOLERANCE:
        rating = _thin(beatmap, stars, strengths)
    return rating


def _fit_spacing(beatmap: Beatmap, stars: float) -> float:
    """Scale the jumps (or, for a collapsed osu! map, the distance snap of its new layout) by the factor whose
    rating is nearest `stars`; returns that rating."""
    original = beatmap.hit_objects
    collapsed = _collapsed_share(original) > MOST_COLLAPSED  # no layout worth scaling: laid out anew
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
    # out shorter), so the scales are first looked at on a grid, and the first step that crosses the ask is
    # bisected.
    low, high = scales
    grid = [low * (high / low) ** (k / (SCAN_STEPS - 1)) for k in range(SCAN_STEPS)]
    above = next((k for k, scale in enumerate(grid) if rating(scale) >= stars), None)
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
                _translate(moved, _inside_shift(obj, end_after, step))
            end_before, end_after = _end(obj), _end(moved)
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


def _collapsed_share(objects: list) -> float:
    """Share of the objects (spinners aside) on the COLLAPSED_SPOTS most used spots (SPOT_CELL_PX cells)."""
    placed = [obj for obj in objects if not isinstance(obj, Spinner)]
    if len(placed) < 2:
        return 0.0
    spots = Counter((int(obj.x) // SPOT_CELL_PX, int(obj.y) // SPOT_CELL_PX) for obj in placed)
    return sum(count for _, count in spots.most_common(COLLAPSED_SPOTS)) / len(placed)


def walked(beatmap: Beatmap, objects: list, scale: float = 1.0) -> list:
    """Copies of `objects` (of `beatmap`) moved, whole, onto the stand-in map's layout of its mode
    (`audio_rhythm.stand_in_objects`), a catch map's moves `scale` times as fast."""
    from models.generation.audio_rhythm import CATCH_MOVE_PX_PER_MS, stand_in_objects
    from tokenization.timing import TimingIndex

    placed = [obj for obj in objects if not isinstance(obj, Spinner)]
    beat_ms = TimingIndex(beatmap.timing_points).beat_length_at(placed[0].time) if placed else 500.0
    walk = iter(stand_in_objects([obj.time for obj in placed], gamemode=int(beatmap.general.mode), ms_per_beat=beat_ms,
                                 catch_move_px_per_ms=CATCH_MOVE_PX_PER_MS * scale))
    out = []
    for obj in objects:
        moved = copy.deepcopy(obj)
        if not isinstance(obj, Spinner):
            spot = next(walk)
            shift = (spot.x - obj.x, spot.y - obj.y)
            if not _fits(obj, shift):  # a slider whose body would leave the playfield: as near as fits
                shift = _inside_shift(obj, (obj.x, obj.y), shift)
            _translate(moved, shift)
        out.append(moved)
    return out


def flowing(beatmap: Beatmap, objects: list, distance_snap: float = DISTANCE_SNAP) -> list:
    """Copies of `objects` (of `beatmap`, for its timing) moved, whole, onto a path snapped at `distance_snap`."""
    from tokenization.timing import TimingIndex

    timing = TimingIndex(beatmap.timing_points)
    px_per_beat = distance_snap * OSU_PX_PER_BEAT * beatmap.difficulty.slider_multiplier
    out, angle, side = [], 0.0, 1.0
    previous = None  # the last placed object, as moved, and its end time
    for obj in objects:
        moved = copy.deepcopy(obj)
        if isinstance(obj, Spinner):
            out.append(moved)
            continue
        if previous is None:  # the first object in the middle
            shift = (PLAYFIELD[0] / 2 - obj.x, PLAYFIELD[1] / 2 - obj.y)
        else:
            if obj.new_combo:
                side = -side
            gap_beats = max(0.0, obj.time - previous[1]) / timing.beat_length_at(obj.time)
            step = px_per_beat * min(gap_beats, MAX_STEP_BEATS)
            angle += side * 2 * math.asin(min(1.0, step / (2 * FLOW_RADIUS_PX)))  # a chord of that circle
            start = _end(previous[0])
            x, y = start[0] + step * math.cos(angle), start[1] + step * math.sin(angle)
            # off a side, the path bounces back (folded into the margins) and goes on the other way
            if not FLOW_MARGIN_PX <= x <= PLAYFIELD[0] - FLOW_MARGIN_PX:
                x, angle = _fold(x, PLAYFIELD[0]), math.pi - angle
            if not FLOW_MARGIN_PX <= y <= PLAYFIELD[1] - FLOW_MARGIN_PX:
                y, angle = _fold(y, PLAYFIELD[1]), -angle
            shift = (x - obj.x, y - obj.y)
            _turned(moved, angle)  # a slider's body goes on the way the path goes
            if not _fits(moved, shift):
                _turned(moved, angle + math.pi)
        if not _fits(moved, shift):
            shift = _inside_shift(moved, (moved.x, moved.y), shift)
        _translate(moved, shift)
        out.append(moved)
        previous = (moved, _end_time(obj, timing, beatmap.difficulty.slider_multiplier))
    return out


def _turned(obj, angle: float) -> None:
    """Turn a slider's body (in place) about its head so that the body leaves the head along `angle`."""
    if not isinstance(obj, Slider) or len(obj.path) < 2:
        return
    head, end = obj.path[0], obj.path[-1]
    if (end.x, end.y) == (head.x, head.y):
        return
    turn = angle - math.atan2(end.y - head.y, end.x - head.x)
    cos, sin = math.cos(turn), math.sin(turn)
    for point in obj.path[1:]:
        dx, dy = point.x - head.x, point.y - head.y
        point.x, point.y = round(head.x + cos * dx - sin * dy), round(head.y + sin * dx + cos * dy)


def _fold(value: float, size: float) -> float:
    """`value` reflected back into [FLOW_MARGIN_PX, size - FLOW_MARGIN_PX], as a path bouncing off the edges."""
    low, width = FLOW_MARGIN_PX, size - 2 * FLOW_MARGIN_PX
    value = (value - low) % (2 * width)
    return low + (2 * width - value if value > width else value)


def _end_time(obj, timing, slider_multiplier: float) -> float:
    if isinstance(obj, Slider):
        return obj.time + timing.slider_duration(obj, slider_multiplier)
    return float(obj.end_time)


def _inside_shift(obj, start: tuple[float, float], step: tuple[float, float]) -> tuple[float, float]:
    """How far to move `obj` so that its head is `step` from `start`, the step mirrored (then clamped)
    so that the whole object stays on the playfield."""
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        head = (start[0] + sx * step[0], start[1] + sy * step[1])
        shift = (head[0] - obj.x, head[1] - obj.y)
        if _fits(obj, shift):
            return shift
    low_x, high_x, low_y, high_y = _extent(obj)
    edge = _edge(obj)
    head = (start[0] + step[0], start[1] + step[1])
    dx = min(max(head[0] - obj.x, edge - low_x), PLAYFIELD[0] - edge - high_x)
    dy = min(max(head[1] - obj.y, edge - low_y), PLAYFIELD[1] - edge - high_y)
    return dx, dy


def _extent(obj) -> tuple[float, float, float, float]:
    points = [(p.x, p.y) for p in obj.path] if isinstance(obj, Slider) and obj.path else [(obj.x, obj.y)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), max(xs), min(ys), max(ys)


def _fits(obj, shift: tuple[float, float]) -> bool:
    """Whether `obj` moved by `shift` lies on the playfield, a slider's path a pixel inside its edges (osu!
    draws a slider to its length, a fraction of a pixel past a rounded end point)."""
    low_x, high_x, low_y, high_y = _extent(obj)
    edge = _edge(obj)
    return (edge <= low_x + shift[0] and high_x + shift[0] <= PLAYFIELD[0] - edge
            and edge <= low_y + shift[1] and high_y + shift[1] <= PLAYFIELD[1] - edge)


def _edge(obj) -> float:
    return 1.0 if isinstance(obj, Slider) else 0.0


def _translate(obj, shift: tuple[float, float]) -> None:
    dx, dy = shift
    obj.x, obj.y = round(obj.x + dx), round(obj.y + dy)
    if isinstance(obj, Slider):
        for point in obj.path:
            point.x, point.y = round(point.x + dx), round(point.y + dy)
        if obj.path:
            obj.path[0].x, obj.path[0].y = obj.x, obj.y


def _end(obj) -> tuple[float, float]:
    """Where an object ends (a slider: its path's last point after an odd number of slides)."""
    if isinstance(obj, Slider) and obj.path and obj.slides % 2 == 1:
        return obj.path[-1].x, obj.path[-1].y
    return obj.x, obj.y


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
