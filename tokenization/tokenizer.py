"""Events <-> token ids for one checkpoint, and the cutting of event streams into audio windows.

A window holds the events whose group time t satisfies start <= t < start + window length; time
shifts become relative to the window start in 10 ms steps, `int((t - start) / 10)` with the
start kept fractional (truncation after the subtraction, as the original), clipped to the range
the vocabulary has.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tokenization.beatmap_to_events import EventList
from tokenization.errors import MapperInputError
from tokenization.events import Event, EventType, make_event
from tokenization.settings import TokenizerSettings
from tokenization.vocabulary import Vocabulary


@dataclass
class Window:
    start_ms: float  # whole ms at inference; training and the reference vectors also use fractional starts
    events: list[Event]  # time shifts relative to start_ms, in steps
    times: list[int]  # absolute group time of each event (ms)


_NEW = tuple.__new__


class Tokenizer:
    def __init__(self, vocabulary: Vocabulary, settings: TokenizerSettings):
        self.vocab = vocabulary
        self.settings = settings
        self.step_ms = settings.ms_per_time_step
        rng = vocabulary.ranges.get(EventType.TIME_SHIFT)
        self.max_steps = rng.max_value if rng is not None else settings.max_time_steps
        self.min_steps = rng.min_value if rng is not None else 0
        # every event the vocabulary can hold, to its id: encoding is one dict lookup per event
        self._ids = {make_event(r.type, v): vocabulary.event_start[r.type] + v - r.min_value
                     for r in vocabulary.output_ranges + vocabulary.input_ranges
                     for v in range(r.min_value, r.max_value + 1)}

    def window(self, events: EventList, start_ms: float, length_ms: float | None = None) -> Window:
        length = self.settings.window_ms if length_ms is None else length_ms
        lo = bisect.bisect_left(events.times, start_ms)
        hi = bisect.bisect_left(events.times, start_ms + length)
        # The original subtracts the (possibly fractional) start before truncating: int((t - start) / 10).
        # Truncating the start first would put an event 489.6 ms after 45557.4 at step 49 instead of 48.
        start, step = start_ms, self.step_ms
        low, high = self.min_steps, self.max_steps
        shift = EventType.TIME_SHIFT
        relative = []
        for event in events.events[lo:hi]:
            if event[0] is shift:
                steps = int((event[1] - start) / step)
                event = _NEW(Event, (shift, low if steps < low else (high if steps > high else steps)))
            relative.append(event)
        return Window(start, relative, events.times[lo:hi])

    def encode(self, events: list[Event]) -> list[int]:
        """Ids of events; a type the vocabulary lacks is an error naming it."""
        table = self._ids
        try:
            return [table[event] for event in events]
        except KeyError:
            return [table.get(event) or self._encode_clipped(event) for event in events]

    def _encode_clipped(self, event: Event) -> int:
        rng = self.vocab.ranges.get(event.type)
        if rng is None:
            raise MapperInputError(f"this model's vocabulary has no {event.type.value!r} tokens")
        value = min(max(event.value, rng.min_value), rng.max_value)
        return self.vocab.event_start[event.type] + value - rng.min_value

    def decode(self, ids: list[int]) -> list[Event]:
        """Events of the event ids in `ids`; special and context ids are skipped."""
        return [self.vocab.decode(i) for i in ids if self.vocab.is_event(i)]

    def absolute(self, window: Window) -> list[Event]:
        """The window's events with absolute millisecond times, as the group times give them."""
        return [Event(e.type, t) if e.type is EventType.TIME_SHIFT else e for e, t in zip(window.events, window.times)]

    def to_absolute(self, events: list[Event], start_ms: int, *, half_step: bool = True) -> list[Event]:
        """Relative time shifts back to ms: start + 10 v, plus half a step (5 ms) for v >= 0, which
        undoes the bias of truncating to 10 ms steps when encoding."""
        half = self.step_ms // 2 if half_step else 0
        return [Event(EventType.TIME_SHIFT, start_ms + self.step_ms * e.value + (half if e.value >= 0 else 0))
                if e.type is EventType.TIME_SHIFT else e for e in events]

    def windows(self, events: EventList, length_ms: float | None = None, stride_ms: float | None = None) -> list[Window]:
        """Consecutive windows covering every event (stride = length unless given)."""
        length = self.settings.window_ms if length_ms is None else length_ms
        stride = length if stride_ms is None else stride_ms
        end = (events.times[-1] + 1) if events.times else 0
        count = max(1, int(max(end, 0) // stride) + 1)
        return [self.window(events, int(i * stride), length) for i in range(count)]
