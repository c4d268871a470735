"""New layouts for a map whose model put its objects on a few spots (`models.postprocess.star_fit` scales
them to the ask): osu! distance snapped along a flowing path (`flowing`), catch as its stand-in map was
(`walked`)."""

from __future__ import annotations

import copy
import math
from collections import Counter

from models.postprocess.playfield import PLAYFIELD, circle_radius, end_point, fits, inside_shift, translate
from tokenization.beatmap import Beatmap, GameMode, Slider, Spinner

# A map with most of its objects on COLLAPSED_SPOTS spots (8 px cells) has no layout worth scaling: the
# starter's osu! maps of the README clip (2-5.5 stars) put 80-94 % of their objects on four spots, jumping
# back and forth between them, while the corpus's 78 osu! maps of 50 objects or more put 1-29 % on their
# four most used spots (median 5 %).
COLLAPSED_SPOTS = 4
MOST_COLLAPSED = 0.5
SPOT_CELL_PX = 8
# ... or most of its jumps turn right back, on a line: the starter's osu! map of Battlecry at 2.5 stars had
# 95 % of its objects on one row and every jump turning back; the corpus's 72 osu! maps turn back (over
# BACK_TURN_DEG) on a median 4.6 % of their jumps, at most 35 %.
BACK_TURN_DEG = 170.0
MOST_BACK_AND_FORTH = 0.5
# The layout such a map gets: distance snapped as the editor does it (this many times the slider velocity's
# distance for the time between an object's end and the next start; a pause moves no further than
# MAX_STEP_BEATS' distance), each jump turning from the last as a path around a circle of FLOW_RADIUS_PX does
# (a stream curves gently, big jumps make triangles and squares), the other way round from each new combo on,
# bouncing off the playfield's margins. `star_fit` scales the snap to the ask, as a mapper turns the
# distance snap up for a harder map.
DISTANCE_SNAP = 1.0
# ... turned between these: up to 4.5x (a 1/2-beat jump at 180 BPM of 315 px, its bounces off the margins
# shortening the longest), which a map of sliders over held sounds needs to reach 5.5 stars on the README
# clip (3x gave 4.89)
DISTANCE_SNAPS = (0.4, 4.5)
FLOW_RADIUS_PX = 120.0  # a circle this wide fits the playfield (384 px high) with its margins
# ... but a jump longer than that circle is wide would turn right back (180 degrees: back and forth on one line,
# what 65-100 % of the jumps of Battlecry's 2.5 and 4.5 star maps did): no jump turns more than this, the median
# turn of the corpus's osu! maps at jumps of 200 px and more (72 maps: quartiles 120-156 degrees, 8 % over 170)
MAX_TURN_RAD = math.radians(140.0)
# ... and where that turn lands on one of the RECENT_OBJECTS before the last (within RECENT_MS) closer than
# OVERLAP_SHARE of two radii, the jump turns the other way round if that lands clearer: big jumps folding back off
# the margins put 16-20 % of the README clip's objects at 4-5.5 stars on one just played; real osu! maps 3.6 %
# (median; 5.7 % over 4.5 stars, 13 % at the 90th percentile)
RECENT_OBJECTS = 3
RECENT_MS = 1000.0
OVERLAP_SHARE = 0.8
MAX_STEP_BEATS = 1.0
FLOW_MARGIN_PX = 32.0  # the path bounces this far inside the playfield's edges
OSU_PX_PER_BEAT = 100.0  # at slider velocity 1: osu!'s distance per beat, times the map's slider multiplier


def needs_new_layout(beatmap: Beatmap) -> bool:
    """Whether an osu! or catch map's layout is worth nothing to scale: its objects collapse onto a few spots, or
    (osu!) most of its jumps turn right back (`back_and_forth_share`)."""
    objects = beatmap.hit_objects
    if beatmap.general.mode not in (GameMode.OSU, GameMode.CATCH):
        return False
    if collapsed_share(objects) > MOST_COLLAPSED:
        return True
    return beatmap.general.mode is GameMode.OSU and back_and_forth_share(objects) > MOST_BACK_AND_FORTH


def back_and_forth_share(objects: list) -> float:
    """Share of the jumps (between object starts, spinners aside) that turn more than BACK_TURN_DEG from the one
    before: back the way they came."""
    placed = [obj for obj in objects if not isinstance(obj, Spinner)]
    turns = 0
    back = 0
    for first, middle, last in zip(placed, placed[1:], placed[2:]):
        before, after = (middle.x - first.x, middle.y - first.y), (last.x - middle.x, last.y - middle.y)
        if math.hypot(*before) < 1 or math.hypot(*after) < 1:
            continue  # a stack: no direction
        turns += 1
        turn = math.atan2(before[0] * after[1] - before[1] * after[0], before[0] * after[0] + before[1] * after[1])
        back += abs(math.degrees(turn)) > BACK_TURN_DEG
    return back / turns if turns else 0.0


def collapsed_share(objects: list) -> float:
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
            if not fits(obj, shift):  # a slider whose body would leave the playfield: as near as fits
                shift = inside_shift(obj, (obj.x, obj.y), shift)
            translate(moved, shift)
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
            turn = min(2 * math.asin(min(1.0, step / (2 * FLOW_RADIUS_PX))), MAX_TURN_RAD)  # a chord of that circle
            start = end_point(previous[0])
            # the turn the flow asks for, else the other way round where that lands on an object just played
            recent = [(o.x, o.y) for o in out[-1 - RECENT_OBJECTS:-1]
                      if not isinstance(o, Spinner) and obj.time - o.time <= RECENT_MS]
            clear = 2 * OVERLAP_SHARE * circle_radius(beatmap.difficulty.circle_size)
            options = [_bounced(start, step, angle + side * turn), _bounced(start, step, angle - side * turn)]
            x, y, angle = max(options, key=lambda option: min(
                [clear] + [math.hypot(option[0] - a, option[1] - b) for a, b in recent]))
            if (x, y, angle) == options[1] and options[0] != options[1]:
                side = -side  # it goes on the other way round
            shift = (x - obj.x, y - obj.y)
            _turned(moved, angle)  # a slider's body goes on the way the path goes
            if not fits(moved, shift):
                _turned(moved, angle + math.pi)
        if not fits(moved, shift):
            shift = inside_shift(moved, (moved.x, moved.y), shift)
        translate(moved, shift)
        out.append(moved)
        previous = (moved, end_time(obj, timing, beatmap.difficulty.slider_multiplier))
    return out


def _bounced(start: tuple[float, float], step: float, angle: float) -> tuple[float, float, float]:
    """(x, y, heading) a jump of `step` from `start` along `angle` lands at: off a side, the path bounces back
    (folded into the margins) and goes on the other way."""
    x, y = start[0] + step * math.cos(angle), start[1] + step * math.sin(angle)
    if not FLOW_MARGIN_PX <= x <= PLAYFIELD[0] - FLOW_MARGIN_PX:
        x, angle = _fold(x, PLAYFIELD[0]), math.pi - angle
    if not FLOW_MARGIN_PX <= y <= PLAYFIELD[1] - FLOW_MARGIN_PX:
        y, angle = _fold(y, PLAYFIELD[1]), -angle
    return x, y, angle


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


def end_time(obj, timing, slider_multiplier: float) -> float:
    if isinstance(obj, Slider):
        return obj.time + timing.slider_duration(obj, slider_multiplier)
    return float(obj.end_time)
