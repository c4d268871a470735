"""The one event stream a beatmap's objects are read from, built the way the published models' own
inference builds it, so a checkpoint's output becomes the same objects in mapper as in the original.

- Every generated context (timing, kiai, map, SV) takes part, not only the map: a type token a model
  writes into another context still becomes an object there. Each context is re-timed from scratch
  (`ContextStream`, the song's end closing trailing anchors), then the contexts are merged pairwise
  in pass order by a two-finger merge on those times (stable: on equal times the earlier context
  first; the lists are not always sorted, and the merge keeps their order).
- Only the map context's position tokens are decoded to pixels; in the others they are not read.
- A group with a distance but no position is put at a point that far from the last object, drawn
  from a seeded generator (`DistancePlacer`), as the original draws one from numpy's seeded state.
"""

from __future__ import annotations

import math

import numpy as np

from models.generation.context_stream import ContextStream
from tokenization.events import ContextType, Event, EventType

E = EventType
PASS_ORDER = (ContextType.TIMING, ContextType.KIAI, ContextType.MAP, ContextType.SV)
POSITION_TYPES = frozenset({E.POS, E.POS_X, E.POS_Y, E.POS_REFINE})
PLAYFIELD = (512.0, 384.0)  # osu! pixels
CANDIDATE_POINTS = 500  # points tried on the circle of the given distance, as the original tries
# groups whose position becomes the "last position" the next distance is measured from
POSITIONED_TYPES = frozenset({E.CIRCLE, E.SLIDER_HEAD, E.BEZIER_ANCHOR, E.PERFECT_ANCHOR, E.CATMULL_ANCHOR,
                              E.RED_ANCHOR, E.LAST_ANCHOR, E.SLIDER_END})


def merged_stream(contexts: dict[ContextType, list[Event]], *, types_first: bool, song_ms: float) -> list[Event]:
    """All contexts' events in one list, merged by time in pass order."""
    merged: tuple[list[Event], list[float]] = ([], [])
    for context in sorted(contexts, key=_pass_rank):
        stream = ContextStream()
        stream.add(list(contexts[context]), end_ms=song_ms, types_first=types_first)
        events, times = stream.events, stream.times
        if context is not ContextType.MAP:
            kept = [i for i, event in enumerate(events) if event.type not in POSITION_TYPES]
            events, times = [events[i] for i in kept], [times[i] for i in kept]
        merged = _merge(merged, (events, times))
    return merged[0]


def _pass_rank(context: ContextType) -> int:
    return PASS_ORDER.index(context) if context in PASS_ORDER else len(PASS_ORDER)


def _merge(first: tuple[list, list], second: tuple[list, list]) -> tuple[list, list]:
    (events1, times1), (events2, times2) = first, second
    events, times = [], []
    i = j = 0
    while i < len(events1) and j < len(events2):
        if times1[i] <= times2[j]:
            events.append(events1[i])
            times.append(times1[i])
            i += 1
        else:
            events.append(events2[j])
            times.append(times2[j])
            j += 1
    return events + events1[i:] + events2[j:], times + times1[i:] + times2[j:]


class DistancePlacer:
    """Positions for groups that have a distance token and no position: a point at that distance
    from the last placed object, inside the playfield, chosen at random among evenly spaced
    candidates (a corner when none is inside). Groups are shown in stream order, all of them, so
    the draws happen in the same order as the original's."""

    def __init__(self, seed: int | None):
        self.random = np.random.RandomState(seed)
        self.last = (256.0, 192.0)
        self.spinning = False

    def place(self, kind: EventType, distance: int | None, position: tuple[float, float] | None):
        """The group's position (None: it has none) and remember it when the type places objects."""
        if position is None and distance is not None:
            exact = self._draw(distance)
            position = (float(round(exact[0])), float(round(exact[1])))
        else:
            exact = position
        if kind in POSITIONED_TYPES:
            self.last = exact if exact is not None else self.last
        elif kind is E.SPINNER:
            self.spinning = True
        elif kind is E.SPINNER_END and self.spinning:
            self.last, self.spinning = (256.0, 192.0), False  # a spinner ends in the centre
        return position

    def _draw(self, distance: int) -> tuple[float, float]:
        angles = np.linspace(0, 2 * math.pi, CANDIDATE_POINTS)
        xs = self.last[0] + distance * np.cos(angles)
        ys = self.last[1] + distance * np.sin(angles)
        inside = [(x, y) for x, y in zip(xs, ys) if 0 <= x <= PLAYFIELD[0] and 0 <= y <= PLAYFIELD[1]]
        if not inside:
            return PLAYFIELD if sum(self.last) > sum(PLAYFIELD) / 2 else (0.0, 0.0)
        return tuple(float(v) for v in inside[self.random.randint(len(inside))])
