"""Resnapping: move a generated time onto the beat grid its snap token names.

The model writes a time (10 ms resolution) followed by a snap divisor: the smallest divisor
1..16 whose grid hits the time. Here the time moves to the nearest tick of that divisor that is
not also a tick of a coarser divisor the token would have named instead, looking at the red line
that governs the time and at its neighbours (a time just before a new red line may belong to it).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

SECTION_MARGIN_MS = 20.0

# Ticks of divisor d that also lie on these coarser grids would have been tokenised with the coarser
# divisor, so they are not candidates for d. Divisors not listed exclude the whole beats only.
_COARSER = {1: (), 4: (2,), 6: (2, 3), 8: (4,), 9: (3,), 10: (2, 5), 12: (4, 6), 14: (2, 7), 15: (3, 5), 16: (8,)}


@dataclass(frozen=True)
class Grid:
    offset: float  # ms of a red line
    ms_per_beat: float


def _candidate_ticks(grid: Grid, time: float, divisor: int) -> list[float]:
    step = grid.ms_per_beat / divisor
    below = math.floor((time - grid.offset) / step)
    coarser = _COARSER.get(divisor, (1,))
    ticks = []
    for index in (below - 1, below, below + 1, below + 2):
        if any((index * c) % divisor == 0 for c in coarser):
            continue
        ticks.append(float(int(grid.offset + index * step)))
    return ticks


def resnap_time(time: float, divisor: int, grids: list[Grid]) -> float:
    """`time` moved onto the nearest allowed tick of `divisor`; unchanged when divisor is 0 or no tick fits."""
    if divisor <= 0 or not grids:
        return time
    offsets = [g.offset for g in grids]
    current = max(0, bisect.bisect_right(offsets, time) - 1)
    section_start = grids[current].offset
    next_start = grids[current + 1].offset if current + 1 < len(grids) else math.inf
    candidates = [t for t in _candidate_ticks(grids[current], time, divisor)
                  if section_start - SECTION_MARGIN_MS <= t <= next_start + SECTION_MARGIN_MS]
    if current > 0:
        candidates += [t for t in _candidate_ticks(grids[current - 1], time, divisor)
                       if t <= section_start + SECTION_MARGIN_MS]
    if current + 1 < len(grids):
        candidates += [t for t in _candidate_ticks(grids[current + 1], time, divisor)
                       if t >= next_start - SECTION_MARGIN_MS]
    if not candidates:
        return time
    return min(candidates, key=lambda t: abs(t - time))

