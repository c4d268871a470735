"""One context's events while a pass is written: events with absolute times and the time of each.

The published models were run (and trained) with a particular bookkeeping of these times, and the
prompts of later windows are cut from them, so it is reproduced exactly:
- a new event's time is that of the time shift it belongs to: the one right after it in types-first
  models, the last one before it otherwise; an event with no time shift of its own keeps the time of
  the event before it (0 for the first);
- untimed slider anchors get times interpolated between the time shifts around them;
- a window's events are found by scanning from the end for the last event before each bound (the
  list is not always sorted: a model can write times that go back across windows);
- the events past a window's commit line are cut from the end only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenization.events import Event, EventType

E = EventType
UNTIMED_TYPES = frozenset({E.BEZIER_ANCHOR, E.PERFECT_ANCHOR, E.CATMULL_ANCHOR, E.RED_ANCHOR})
TIMED_TYPES = frozenset({E.CIRCLE, E.SPINNER, E.SPINNER_END, E.SLIDER_HEAD, E.LAST_ANCHOR, E.SLIDER_END, E.BEAT,
                         E.MEASURE, E.TIMING_POINT, E.KIAI, E.HOLD_NOTE, E.HOLD_NOTE_END, E.DRUMROLL,
                         E.DRUMROLL_END, E.DENDEN, E.DENDEN_END, E.SCROLL_SPEED_CHANGE})


@dataclass
class ContextStream:
    events: list[Event] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, events: list[Event], times: list[float] | None = None, *, types_first: bool) -> ContextStream:
        """A finished context: with the times its encoder gave, or times worked out as for new events."""
        stream = cls(list(events), list(times) if times is not None else [])
        if times is None:
            stream.add([], end_ms=None, types_first=types_first)
        return stream

    def add(self, new: list[Event], *, end_ms: float | None, types_first: bool) -> None:
        """Append events written in a window (`end_ms`: that window's end, for trailing anchors)."""
        self.events += new
        events, times = self.events, self.times
        first, count = len(times), len(events)
        if first == count:
            return
        current = times[-1] if times else 0
        for i in range(first, count):
            if types_first:
                if i + 1 < count and events[i + 1].type is E.TIME_SHIFT:
                    current = events[i + 1].value
            elif events[i].type is E.TIME_SHIFT:
                current = events[i].value
            times.append(current)
        self._interpolate_anchors(first, end_ms, types_first)

    def _interpolate_anchors(self, first: int, end_ms: float | None, types_first: bool) -> None:
        events, times = self.events, self.times
        count = len(events)
        order = range(first, count) if types_first else range(count - 1, first - 1, -1)
        current = times[first] if types_first else (end_ms if end_ms is not None else times[-1])
        interpolating = False
        for i in order:
            kind = events[i].type
            if kind in TIMED_TYPES:
                interpolating = False
            if kind in UNTIMED_TYPES:
                interpolating = True
            if not interpolating:
                current = times[i]
                continue
            if kind not in UNTIMED_TYPES:
                times[i] = current
                continue
            # the time shift on the far side, and how many anchors lie between
            j, step, anchors, other = i, (1 if types_first else -1), 0, current
            while 0 <= j < count:
                if events[j].type is E.TIME_SHIFT:
                    other = times[j]
                    break
                if events[j].type in UNTIMED_TYPES:
                    anchors += 1
                j += step
            if j < 0:
                other = 0
            elif j >= count:
                other = end_ms if end_ms is not None else times[-1]
            current = int((current - other) / (anchors + 1) * anchors + other)
            times[i] = current

    def span(self, start_ms: float, end_ms: float) -> tuple[int, int]:
        """Index range of the events in [start, end), found from the end of the list."""
        return _after_last_before(self.times, start_ms), _after_last_before(self.times, end_ms)

    def window(self, start_ms: float, end_ms: float) -> list[Event]:
        lo, hi = self.span(start_ms, end_ms)
        return self.events[lo:hi]

    def cut_after(self, time_ms: float) -> None:
        """Drop events later than `time_ms` from the end of the list, stopping at the first that is not."""
        while self.times and self.times[-1] > time_ms:
            self.times.pop()
            self.events.pop()

    def last_value_before(self, kind: EventType, time_ms: float, default: int) -> int:
        for event, time in zip(reversed(self.events), reversed(self.times)):
            if event.type is kind and time < time_ms:
                return event.value
        return default


def _after_last_before(times: list[float], bound: float) -> int:
    for index in range(len(times) - 1, -1, -1):
        if times[index] < bound:
            return index + 1
    return 0
