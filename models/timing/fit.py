"""Beat markers to timing points: the red lines a mapper would set for a list of generated beats.

Input is what the model writes in a timing pass (or what super timing votes for): the times of
beats, measure starts (downbeats) and timing-point ticks (the first beat of a new red line).
Output is the fewest red lines, with "human" BPMs and whole-millisecond offsets, that put every
marker within `leniency_ms` of its beat.

The method: markers are numbered by beat (one beat between consecutive markers); a straight line
t = offset + k * ms_per_beat is fitted to each red-line section by least squares; the BPM is rounded
to the coarsest step (1, 1/2, 1/10, ... BPM) that keeps every marker within the leniency without
drifting from the fitted tempo; a section
that no single line fits is split at the measure marker that best separates two lines. Meters come
from the spacing of the measure markers.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

import numpy as np

from tokenization.beatmap import TimingPoint

DEFAULT_LENIENCY_MS = 20.0
BPM_ROUNDING_STEPS = (1.0, 0.5, 0.1, 0.01, 0.001)  # tried from coarsest to finest
DEFAULT_METER = 4
MIN_MS_PER_BEAT = 60000.0 / 1000  # 1000 BPM
MAX_MS_PER_BEAT = 60000.0 / 10  # 10 BPM


class MarkerKind(enum.Enum):
    BEAT = "beat"
    MEASURE = "measure"  # first beat of a bar
    TIMING_POINT = "timing_point"  # first beat of a new red line (also a downbeat)


@dataclass(frozen=True)
class BeatMarker:
    time: float  # ms
    kind: MarkerKind = MarkerKind.BEAT

    @property
    def is_downbeat(self) -> bool:
        return self.kind is not MarkerKind.BEAT


@dataclass(frozen=True)
class RedLine:
    offset: float  # ms, a downbeat
    ms_per_beat: float
    meter: int = DEFAULT_METER

    @property
    def bpm(self) -> float:
        return 60000.0 / self.ms_per_beat

    def to_timing_point(self, *, sample_set: int = 0, volume: int = 100) -> TimingPoint:
        return TimingPoint(time=self.offset, beat_length=self.ms_per_beat, meter=self.meter,
                           sample_set=sample_set, volume=volume, uninherited=True)


def fit_timing(markers: list[BeatMarker], leniency_ms: float = DEFAULT_LENIENCY_MS) -> list[RedLine]:
    """Red lines for the markers, sorted by time; [] when there are fewer than two markers."""
    markers = sorted(markers, key=lambda m: m.time)
    if len(markers) < 2:
        return []
    sections = _split_at_timing_points(markers)
    lines: list[RedLine] = []
    for index, section in enumerate(sections):
        if len(section) < 2:
            # A lone timing point: keep the tempo of the section before (or after) it.
            neighbour = lines[-1] if lines else None
            if neighbour is None and index + 1 < len(sections):
                following = fit_timing(sections[index + 1], leniency_ms)
                neighbour = following[0] if following else None
            if neighbour is not None:
                lines.append(RedLine(round(section[0].time), neighbour.ms_per_beat, neighbour.meter))
            continue
        lines.extend(_fit_section(section, leniency_ms))
    return _drop_redundant(lines, leniency_ms)


def _split_at_timing_points(markers: list[BeatMarker]) -> list[list[BeatMarker]]:
    sections: list[list[BeatMarker]] = []
    for marker in markers:
        if not sections or marker.kind is MarkerKind.TIMING_POINT:
            sections.append([])
        sections[-1].append(marker)
    return sections


def _fit_section(section: list[BeatMarker], leniency_ms: float) -> list[RedLine]:
    times = np.array([m.time for m in section], dtype=np.float64)
    beats = np.arange(len(section), dtype=np.float64)
    pieces = _fit_pieces(times, beats, [m.is_downbeat for m in section], leniency_ms)
    lines = []
    for start, stop, offset, ms_per_beat in pieces:
        if not MIN_MS_PER_BEAT <= ms_per_beat <= MAX_MS_PER_BEAT:
            continue  # not a tempo (markers piled on one time, or absurdly slow): no red line from it
        downbeats = [i for i in range(start, stop) if section[i].is_downbeat]
        lines.extend(_place_red_lines(start, stop, downbeats, offset, ms_per_beat))
    return lines


def _fit_pieces(times: np.ndarray, beats: np.ndarray, downbeat: list[bool], leniency_ms: float,
                start: int = 0, stop: int | None = None) -> list[tuple[int, int, float, float]]:
    """(start, stop, offset at beat 0, ms per beat) for each piece a single tempo fits."""
    stop = len(times) if stop is None else stop
    t, k = times[start:stop], beats[start:stop]
    fitted = _human_fit(t, k, leniency_ms)
    if fitted is not None or stop - start < 4:
        if fitted is None:  # too few markers to split: take the plain least-squares line
            fitted = _least_squares(t, k)
        return [(start, stop, *fitted)]
    split = _best_split(times, beats, downbeat, start, stop)
    return (_fit_pieces(times, beats, downbeat, leniency_ms, start, split)
            + _fit_pieces(times, beats, downbeat, leniency_ms, split, stop))


def _least_squares(t: np.ndarray, k: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(k, t, 1)
    return float(intercept), float(slope)


def _human_fit(t: np.ndarray, k: np.ndarray, leniency_ms: float) -> tuple[float, float] | None:
    """The least-squares line with its BPM rounded as coarsely as the leniency allows, or None."""
    intercept, slope = _least_squares(t, k)
    if not MIN_MS_PER_BEAT <= slope <= MAX_MS_PER_BEAT:
        return None
    bpm = 60000.0 / slope
    candidates = [round(bpm / step) * step for step in BPM_ROUNDING_STEPS] + [bpm]
    for candidate in candidates:
        if candidate <= 0:
            continue
        ms_per_beat = 60000.0 / candidate
        offset = float(np.mean(t - k * ms_per_beat))
        grid = offset + k * ms_per_beat
        # A rounder BPM must keep every marker within the leniency and must not drift from the
        # fitted tempo by more than a quarter of it anywhere in the section.
        drift = np.max(np.abs(grid - (intercept + k * slope)))
        if np.max(np.abs(t - grid)) <= leniency_ms and drift <= leniency_ms / 4:
            return offset, ms_per_beat
    return None


def _best_split(times, beats, downbeat, start: int, stop: int) -> int:
    """Index where a new red line best starts: prefer downbeats, minimise the two fits' squared error."""
    candidates = [i for i in range(start + 2, stop - 1) if downbeat[i]] or list(range(start + 2, stop - 1))

    def cost(i: int) -> float:
        total = 0.0
        for a, b in ((start, i), (i, stop)):
            t, k = times[a:b], beats[a:b]
            intercept, slope = _least_squares(t, k)
            total += float(np.sum((t - (intercept + slope * k)) ** 2))
        return total

    return min(candidates, key=cost)


def _place_red_lines(start: int, stop: int, downbeats: list[int], offset: float,
                     ms_per_beat: float) -> list[RedLine]:
    """Red lines for one tempo piece: on its first downbeat, re-synced wherever the bar length changes."""
    def time_of(beat: int) -> float:
        return offset + beat * ms_per_beat

    if not downbeats:
        return [RedLine(float(round(time_of(start))), ms_per_beat, DEFAULT_METER)]
    gaps = [b - a for a, b in zip(downbeats, downbeats[1:]) if b > a]
    meter = Counter(gaps).most_common(1)[0][0] if gaps else DEFAULT_METER
    first = downbeats[0]
    # Move the line back by whole bars so that it also covers the beats before the first downbeat.
    bars_back = -(-(first - start) // meter)
    anchor = first - bars_back * meter
    lines = [RedLine(float(round(time_of(anchor))), ms_per_beat, meter)]
    for current in downbeats[1:]:
        if (current - anchor) % lines[-1].meter != 0:  # an odd bar: start a new line on this downbeat
            lines.append(RedLine(float(round(time_of(current))), ms_per_beat, meter))
            anchor = current
    return lines


def _drop_redundant(lines: list[RedLine], leniency_ms: float) -> list[RedLine]:
    """Remove a red line that continues the previous one's grid and meter exactly (same tempo, on a bar line)."""
    kept: list[RedLine] = []
    for line in lines:
        if kept:
            prev = kept[-1]
            same_tempo = abs(prev.ms_per_beat - line.ms_per_beat) < 1e-6 and prev.meter == line.meter
            bars = (line.offset - prev.offset) / (prev.ms_per_beat * prev.meter)
            if same_tempo and abs(bars - round(bars)) * prev.ms_per_beat * prev.meter <= 1.0:
                continue
        kept.append(line)
    return kept
