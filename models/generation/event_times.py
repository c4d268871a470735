"""Times of the events in a generated stream: the group time of each event, the events of a time
span, and a timing stream's beat markers for fitting red lines."""

from __future__ import annotations

from models.timing.fit import BeatMarker, MarkerKind
from tokenization.events import BEAT_TYPES, TYPE_TOKENS, Event, EventType

E = EventType


def event_times(events: list[Event], types_first: bool, default: int = 0) -> list[int]:
    """The group time of each event (absolute ms): a group's events share its time shift; a group
    without one (an untimed slider anchor) takes the time of the group before it."""
    times: list[int] = []
    current = default
    if not types_first:
        for event in events:
            if event.type is E.TIME_SHIFT:
                current = event.value
            times.append(current)
        return times
    group: list[Event] = []

    def close() -> None:
        nonlocal current
        current = next((e.value for e in group if e.type is E.TIME_SHIFT), current)
        times.extend([current] * len(group))
        group.clear()

    for event in events:
        if event.type in TYPE_TOKENS and group:
            close()
        group.append(event)
    close()
    return times


def trim_events(events: list[Event], types_first: bool, start_ms: float | None, end_ms: float | None,
                margin_ms: float = 10.0) -> list[Event]:
    """The events whose group time lies within [start - margin, end + margin]."""
    lo = -float("inf") if start_ms is None else start_ms - margin_ms
    hi = float("inf") if end_ms is None else end_ms + margin_ms
    return [e for e, t in zip(events, event_times(events, types_first)) if lo <= t <= hi]


def beat_markers(events: list[Event], types_first: bool):
    """Beat/measure/timing-point markers of a timing stream, for fitting red lines."""
    kinds = {E.BEAT: MarkerKind.BEAT, E.MEASURE: MarkerKind.MEASURE, E.TIMING_POINT: MarkerKind.TIMING_POINT}
    times = event_times(events, types_first)
    return [BeatMarker(float(t), kinds[e.type]) for e, t in zip(events, times) if e.type in BEAT_TYPES]
