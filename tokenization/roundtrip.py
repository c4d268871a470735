"""Beatmap -> tokens -> beatmap, to measure what the token representation keeps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenization.beatmap import Beatmap, HoldNote, Slider, Spinner
from tokenization.beatmap_to_events import BeatmapEncoder
from tokenization.events import ContextType
from tokenization.events_to_beatmap import events_to_objects
from tokenization.tokenizer import Tokenizer


@dataclass
class RoundTripError:
    objects: int
    kept: int
    max_time_ms: float
    max_position_px: float
    dropped_groups: int


def round_trip(beatmap: Beatmap, tokenizer: Tokenizer) -> tuple[list, RoundTripError]:
    """Objects rebuilt from the map's token windows, with the worst time and position error."""
    settings = tokenizer.settings
    events = BeatmapEncoder(beatmap, settings).context(ContextType.MAP)
    decoded = []
    for window in tokenizer.windows(events):
        ids = tokenizer.encode(window.events)
        decoded += tokenizer.to_absolute(tokenizer.decode(ids), window.start_ms)
    objects, report = events_to_objects(decoded, settings, mode=beatmap.mode, key_count=beatmap.key_count)
    expected = [o for o in beatmap.hit_objects
                if not (isinstance(o, Slider) and len(o.path) >= settings.max_slider_control_points)]
    worst_time = worst_pos = 0.0
    positional = beatmap.mode.value in (0, 2)
    x_min, x_max, y_min, y_max = settings.position_range
    keys = beatmap.key_count

    def column(x: float) -> int:
        return int(min(max(x * keys / 512, 0), keys - 1))

    for original, rebuilt in _pairs(expected, objects):
        worst_time = max(worst_time, abs(rebuilt.time - int(original.time + 1e-5)))
        if isinstance(original, (Spinner, HoldNote)):
            worst_time = max(worst_time, abs(rebuilt.end_time - int(original.end_time + 1e-5)))
        if positional and not isinstance(original, Spinner):
            # positions outside the token grid are clipped to its edge: measure against that
            ox, oy = min(max(original.x, x_min), x_max), min(max(original.y, y_min), y_max)
            worst_pos = max(worst_pos, math.hypot(rebuilt.x - ox, rebuilt.y - oy))
        if beatmap.mode.value == 3 and column(rebuilt.x) != column(original.x):
            worst_pos = max(worst_pos, 512.0 / keys)
    return objects, RoundTripError(len(expected), len(objects), worst_time, worst_pos, report.dropped_groups)


def _pairs(expected: list, rebuilt: list) -> list[tuple]:
    """Match objects in time order; objects sharing a time (chords, stacks) pair with their nearest."""
    by_time: dict[int, list] = {}
    for obj in rebuilt:
        by_time.setdefault(int(round(obj.time)), []).append(obj)
    pairs = []
    for original in sorted(expected, key=lambda o: o.time):
        t = int(original.time + 1e-5)
        candidates = [c for dt in range(-6, 7) for c in by_time.get(t + dt, [])]
        if not candidates:
            continue
        best = min(candidates, key=lambda c: (type(c) is not type(original), abs(c.time - t),
                                              math.hypot(c.x - original.x, c.y - original.y)))
        by_time[int(round(best.time))].remove(best)
        pairs.append((original, best))
    return pairs
