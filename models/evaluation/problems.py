"""What a modder would flag, checked against the map's own timing (the rules MapsetVerifier applies).

- unsnapped: an object's head (or hold note's end) 1 ms off the rankable grid is minor, 2 ms a problem;
- slider-length: a slider's repeats and tail off the grid by the same margins, which means its pixel
  length does not fit its slider velocity (spinners need no snapping);
- offscreen: a problem where a circle's or slider's border leaves a 4:3 screen (catch: a fruit's x
  outside the playfield), minor where its centre only leaves the 512 x 384 playfield;
- too-close: an object starting before the previous one ends, or within 10 ms of its end; in mania
  only within the same column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.evaluation.difficulty import mania_column
from models.evaluation.grid import Grid
from models.postprocess.playfield import circle_radius
from tokenization.beatmap import (
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    Beatmap,
    GameMode,
    HoldNote,
    Slider,
    Spinner,
)
from tokenization.timing import TimingIndex

MINOR_UNSNAP_MS = 1.0
PROBLEM_UNSNAP_MS = 2.0
MIN_GAP_MS = 10.0
CHECKS = ("unsnapped", "slider-length", "offscreen", "too-close")
SEVERITIES = {"unsnapped": ("problem", "minor"), "slider-length": ("problem", "minor"),
              "offscreen": ("problem", "minor"), "too-close": ("problem",)}
_PATH_SAMPLES = 65  # points along each slider checked against the playfield
# Where a 4:3 screen ends around the playfield, in osu! pixels (MapsetVerifier's measurements with
# slider tails): an object's border past these is partly off the screen.
SCREEN_LEFT, SCREEN_RIGHT, SCREEN_TOP, SCREEN_BOTTOM = -67.0, 579.0, -60.0, 428.0
_EDGE_EPSILON = 1e-6


@dataclass(frozen=True)
class Problem:
    time: float
    check: str  # one of CHECKS
    severity: str  # "problem" or "minor"
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def find_problems(beatmap: Beatmap) -> list[Problem]:
    grid = Grid(beatmap)
    found = _unsnaps(beatmap, grid) + _offscreen(beatmap) + _too_close(beatmap)
    return sorted(found, key=lambda p: (p.time, CHECKS.index(p.check)))


def problem_counts(problems: list[Problem]) -> dict[str, int]:
    counts = {f"{check}_{severity}": 0 for check in CHECKS for severity in SEVERITIES[check]}
    for p in problems:
        counts[f"{p.check}_{p.severity}"] += 1
    return counts


def _unsnap_problem(grid: Grid, time: float, check: str, what: str) -> Problem | None:
    unsnap = grid.unsnap(time)
    if unsnap is None or abs(unsnap) < MINOR_UNSNAP_MS:
        return None
    severity = "problem" if abs(unsnap) >= PROBLEM_UNSNAP_MS else "minor"
    because = ": its length does not fit its slider velocity" if check == "slider-length" else ""
    return Problem(time, check, severity, f"{what} unsnapped by {unsnap:+.2f} ms{because}")


def _unsnaps(beatmap: Beatmap, grid: Grid) -> list[Problem]:
    if not grid:
        return []
    index = TimingIndex(beatmap.timing_points)
    found = []
    for obj in beatmap.hit_objects:
        if isinstance(obj, Spinner):
            continue
        edges = [(obj.time, "unsnapped", _name(obj) if not isinstance(obj, Slider) else "slider head")]
        if isinstance(obj, HoldNote):
            edges.append((obj.hold_end, "unsnapped", "hold note end"))
        if isinstance(obj, Slider):
            duration = obj.duration if obj.duration is not None else index.slider_duration(
                obj, beatmap.difficulty.slider_multiplier)
            span = duration / max(obj.slides, 1)
            edges += [(obj.time + k * span, "slider-length", "slider tail" if k == obj.slides else "slider repeat")
                      for k in range(1, obj.slides + 1)]
        found += [p for time, check, what in edges if (p := _unsnap_problem(grid, time, check, what))]
    return found


def _offscreen(beatmap: Beatmap) -> list[Problem]:
    if beatmap.mode not in (GameMode.OSU, GameMode.CATCH):
        return []
    catch = beatmap.mode is GameMode.CATCH
    radius = circle_radius(beatmap.difficulty.circle_size)
    found = []
    for obj in beatmap.hit_objects:
        if isinstance(obj, Spinner):
            continue
        points = np.array([[obj.x, obj.y]], dtype=float)
        if isinstance(obj, Slider) and obj.path:
            from tokenization.slider_path import SliderPath

            points = SliderPath.of(obj).position_at(np.linspace(0.0, 1.0, _PATH_SAMPLES))
        xs, ys = points[:, 0], points[:, 1]
        if catch:  # only x matters: the catcher cannot leave the playfield
            off_screen, off_field = (xs < -_EDGE_EPSILON) | (xs > PLAYFIELD_WIDTH + _EDGE_EPSILON), None
        else:
            off_screen = ((xs - radius < SCREEN_LEFT) | (xs + radius > SCREEN_RIGHT)
                          | (ys - radius < SCREEN_TOP) | (ys + radius > SCREEN_BOTTOM))
            off_field = ((xs < -_EDGE_EPSILON) | (xs > PLAYFIELD_WIDTH + _EDGE_EPSILON)
                         | (ys < -_EDGE_EPSILON) | (ys > PLAYFIELD_HEIGHT + _EDGE_EPSILON))
        if off_screen.any():
            x, y = points[int(np.argmax(off_screen))]
            found.append(Problem(obj.time, "offscreen", "problem",
                                 f"{_name(obj)} {'outside the playfield' if catch else 'partly off a 4:3 screen'} "
                                 f"at ({x + 0.0:.0f}, {y + 0.0:.0f})"))
        elif off_field is not None and off_field.any():
            x, y = points[int(np.argmax(off_field))]
            found.append(Problem(obj.time, "offscreen", "minor",
                                 f"{_name(obj)} outside the 512 x 384 playfield at ({x + 0.0:.0f}, {y + 0.0:.0f})"))
    return found


def _too_close(beatmap: Beatmap) -> list[Problem]:
    objects = sorted(beatmap.hit_objects, key=lambda o: o.time)
    if beatmap.mode is GameMode.MANIA:
        keys = beatmap.key_count
        lanes: dict[int, list] = {}
        for obj in objects:
            lanes.setdefault(mania_column(obj.x, keys), []).append(obj)
        found = []
        for column, lane in sorted(lanes.items()):
            found += _close_pairs(lane, f" in column {column + 1}")
        return found
    return _close_pairs(objects, "")


def _close_pairs(objects: list, where: str) -> list[Problem]:
    found = []
    for i, first in enumerate(objects):
        for second in objects[i + 1:]:
            gap = second.time - first.end_time
            if gap <= 0:
                found.append(Problem(second.time, "too-close", "problem",
                                     f"{_name(second)} starts before the {_name(first)} ends{where}"))
            elif gap <= MIN_GAP_MS and not isinstance(second, Spinner):
                found.append(Problem(second.time, "too-close", "problem",
                                     f"{_name(second)} {gap:.1f} ms after the {_name(first)}{where}"))
            else:
                break  # sorted by start: every later object is further away still
    return found


def _name(obj) -> str:
    return {Slider: "slider", Spinner: "spinner", HoldNote: "hold note"}.get(type(obj), "circle")
