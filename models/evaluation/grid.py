"""Beat grids of a map's red lines: distance to the nearest snap and the MapsetVerifier-style unsnap."""

from __future__ import annotations

import bisect
import math

from tokenization.beatmap import Beatmap, TimingPoint

# 1/16 and 1/12 together hold every snap a mapper uses: 1/1, 1/2, 1/4, 1/8, 1/16 and 1/3, 1/6, 1/12.
COMMON_DIVISORS = (16, 12)
# The divisors the ranking criteria allow (MapsetVerifier checks each object against all five).
RANKABLE_DIVISORS = (16, 12, 9, 7, 5)
# The editor stores times as integers (casting, not rounding), so a snapped object can be up to 1 ms
# before its exact grid time; a tiny epsilon keeps 999.9999999 from casting to 999.
_CAST_EPSILON = 1e-6


class Grid:
    """The red lines of a map (tempo > 0), for lookups by time; empty when the map has none."""

    def __init__(self, beatmap_or_lines: Beatmap | list[TimingPoint]):
        points = beatmap_or_lines.timing_points if isinstance(beatmap_or_lines, Beatmap) else beatmap_or_lines
        self.lines = sorted((tp for tp in points if tp.uninherited and tp.beat_length > 0), key=lambda tp: tp.time)
        self.times = [tp.time for tp in self.lines]

    def __bool__(self) -> bool:
        return bool(self.lines)

    def line_at(self, time: float) -> TimingPoint | None:
        """The red line governing `time`; the first one for times before it (osu! extends it backwards)."""
        if not self.lines:
            return None
        return self.lines[max(bisect.bisect_right(self.times, time) - 1, 0)]

    def distance(self, time: float, divisors: tuple[int, ...] = COMMON_DIVISORS) -> float | None:
        """Unsigned ms from `time` to the nearest grid point of any of `divisors`; None without red lines."""
        line = self.line_at(time)
        if line is None:
            return None
        return min(abs(time - _nearest(time, line, d)) for d in divisors)

    def unsnap(self, time: float) -> float | None:
        """Signed ms an object at `time` sits off the rankable grid, as the editor would have placed it.

        The snapped position is the exact grid time cast to an integer, as the editor stores it, so
        a map written by the editor reads 0 here; positive means late."""
        line = self.line_at(time)
        if line is None:
            return None
        candidates = [time - _cast(_nearest(time, line, d)) for d in RANKABLE_DIVISORS]
        return min(candidates, key=abs)


def _nearest(time: float, line: TimingPoint, divisor: int) -> float:
    step = line.beat_length / divisor
    return line.time + round((time - line.time) / step) * step


def _cast(value: float) -> float:
    """C#'s (int) cast: toward zero."""
    return float(math.floor(value + _CAST_EPSILON) if value >= 0 else math.ceil(value - _CAST_EPSILON))


def main_line(grid: Grid, start: float, end: float) -> TimingPoint | None:
    """The red line that governs the longest stretch of [start, end]: the map's tempo as a mapper names it."""
    if not grid:
        return None
    best, best_span = grid.lines[0], -1.0
    for index, line in enumerate(grid.lines):
        begin = start if index == 0 else max(line.time, start)
        finish = grid.lines[index + 1].time if index + 1 < len(grid.lines) else end
        span = min(finish, end) - begin
        if span > best_span:
            best, best_span = line, span
    return best
