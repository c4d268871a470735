"""Tempo changes: follow the beat through the song and give the stretches one grid cannot hold their own red lines.

The beat is followed by dynamic programming over the onset strength (Ellis 2007, "Beat tracking by
dynamic programming"): every beat is an onset-strong instant about one beat length after the previous
one, and a step that differs from the beat length costs the square of its log-ratio. That path bends
with a live drummer or a tempo change where a fixed grid cannot. Each tracked beat is then moved onto
the strength-weighted mean of the onsets near it, and `models.timing.fit.fit_timing` turns the beats
into candidate red lines.

A candidate only replaces the song's one grid where the audio says so: over its stretch (at least
MIN_CHANGE_BEATS beats with MIN_CHANGE_ONSETS onsets, so a short clip or a fill cannot split a song)
its grid must put a clearly larger share of the onset strength on its beats and sixteenths than the
main grid does (CHANGE_MARGIN). Tracked beats wander in breaks and rubato and sometimes lock onto the
off-beat or a sixteenth for a while; a grid that is the main one shifted by a sixteenth holds the same
onsets, so it wins nothing and no red line comes from it. A real tempo change drifts through the main
grid's sixteenths within a few beats, so the main grid holds little of it.

Every stretch's phase, the main tempo's stretches after a change included, is the phase of its own
onsets folded at its beat length, shifted by what the song's main line (`beat_phase`, with its latency
and corrections) adds to the same fold of the whole song, so that the main estimator's calibration
carries over to each stretch.
"""

from __future__ import annotations

import numpy as np

from models.audio.onsets import Onsets
from models.timing.fit import BeatMarker, RedLine, fit_timing
from models.timing.tempo_search import fold

CELL_MS = 2.0  # the path's time resolution
STRENGTH_SMOOTHING_MS = 6.0
STEP_RANGE = (0.7, 1.4)  # a step between beats may be this share of the beat length
STEP_PENALTY = 50.0  # cost of a step per squared log-ratio to the beat length (in units of the strength's std)
SNAP_MS = 12.0  # onsets this close to a tracked beat decide its exact time
FIT_LENIENCY_MS = 15.0  # candidate red lines from tracked beats keep every beat within this
MIN_CHANGE_BEATS = 16  # a stretch shorter than four bars is no tempo change (fills, rubato, a clip's edges)
MIN_CHANGE_ONSETS = 12  # ... nor a stretch with this few onsets to decide it (a break)
HELD_MS = 10.0  # an onset this close to a grid's sixteenth is held by that grid
GRID_DIVISORS = (1, 2)  # beats and off-beats: sixteenth streams (hi-hats) and swing hold no grid's tempo
CHANGE_MARGIN = 0.25  # a stretch's own grid must hold this much more of its onset strength than the main grid
MIN_TEMPO_CHANGE = 0.01  # log-ratio: a stretch within 1 % of the main tempo is drift or swing, not a change
RESET_MIN_MS = 25.0  # a phase reset moves the grid at least this far off the main grid's sixteenths (onsets of
# soft sounds come 10-20 ms late, and a tracker locks onto a sixteenth stream for a while: neither is a reset)
PHASE_BIN_MS = 0.5
PHASE_SMOOTHING_MS = 3.0  # onset times scatter by a few ms
PHASE_REFINE_MS = 12.0  # onsets this close to the fold's peak decide the exact phase
SAME_PHASE_MS = 3.0  # a main-tempo stretch whose phase is this close to the main line's continues it
MAX_CALIBRATION_MS = 40.0  # the main line's shift from the raw fold beyond this is a half-beat choice, not latency


def track_beats(onsets: Onsets, beat_ms: float, end_ms: float) -> np.ndarray:
    """Times (ms) of the beats followed through [0, end_ms], about `beat_ms` apart."""
    cells = int(end_ms / CELL_MS) + 1
    if len(onsets) == 0 or cells < 4:
        return np.zeros(0)
    strength = np.zeros(cells)
    np.add.at(strength, np.clip(np.rint(onsets.times_ms / CELL_MS).astype(int), 0, cells - 1), onsets.strengths)
    radius = int(3 * STRENGTH_SMOOTHING_MS / CELL_MS)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * CELL_MS / STRENGTH_SMOOTHING_MS) ** 2)
    strength = np.convolve(strength, kernel, mode="same")
    strength /= max(float(strength.std()), 1e-12)
    period = beat_ms / CELL_MS
    steps = np.arange(int(np.floor(period * STEP_RANGE[0])), int(np.ceil(period * STEP_RANGE[1])) + 1)
    step_cost = STEP_PENALTY * np.log(steps / period) ** 2
    score = strength.copy()
    previous = np.full(cells, -1)
    # a block of cells shorter than the shortest step only looks back at cells before the block, so each
    # block is decided at once (the same path as cell by cell, a few hundred numpy steps a song)
    block = int(steps[0])
    for start in range(block, cells, block):
        cell = np.arange(start, min(start + block, cells))
        before = cell[:, None] - steps[None, :]
        options = np.where(before >= 0, score[np.maximum(before, 0)] - step_cost[None, :], -np.inf)
        best = np.argmax(options, axis=1)
        gain = options[np.arange(len(cell)), best]
        take = gain > 0
        score[cell[take]] = strength[cell[take]] + gain[take]
        previous[cell[take]] = before[np.arange(len(cell)), best][take]
    last_stretch = max(cells - int(np.ceil(period)), 0)
    cell = last_stretch + int(np.argmax(score[last_stretch:]))
    path = []
    while cell >= 0:
        path.append(cell)
        cell = previous[cell]
    return np.array(path[::-1], dtype=np.float64) * CELL_MS


def snap_to_onsets(beats: np.ndarray, onsets: Onsets) -> np.ndarray:
    """Each beat moved onto the strength-weighted mean of the onsets within SNAP_MS of it (kept if none)."""
    out = beats.copy()
    for index, beat in enumerate(beats):
        near = np.abs(onsets.times_ms - beat) <= SNAP_MS
        if near.any():
            out[index] = float(np.average(onsets.times_ms[near], weights=onsets.strengths[near]))
    return out


def fold_phase(onsets: Onsets, beat_ms: float) -> float:
    """The raw phase (ms, in [0, beat_ms)) where the onsets pile up when folded at `beat_ms`: the smoothed
    fold's peak, refined by the onsets near it. No latency: `segment_red_lines` calibrates it on the main line."""
    bins = max(8, int(round(beat_ms / PHASE_BIN_MS)))
    histogram = fold(onsets.times_ms, onsets.strengths, np.array([beat_ms]), bins)[0]
    distance = np.arange(bins)
    distance = np.minimum(distance, bins - distance) * (beat_ms / bins)
    kernel = np.exp(-0.5 * (distance / PHASE_SMOOTHING_MS) ** 2)
    smooth = np.fft.irfft(np.fft.rfft(histogram) * np.fft.rfft(kernel), n=bins)
    phase = float(np.argmax(smooth)) / bins * beat_ms
    deviation = _wrapped(onsets.times_ms - phase, beat_ms)
    near = np.abs(deviation) <= PHASE_REFINE_MS
    if near.any():
        phase += float(np.average(deviation[near], weights=onsets.strengths[near]))
    return phase % beat_ms


def held_share(onsets: Onsets, offset: float, beat_ms: float, latency_ms: float) -> float:
    """The share of the onsets' strength within HELD_MS of the sixteenths of the grid (offset, beat_ms)."""
    total = float(onsets.strengths.sum())
    if total <= 0:
        return 0.0
    held = np.zeros(len(onsets), dtype=bool)
    for divisor in GRID_DIVISORS:
        held |= np.abs(_wrapped(onsets.times_ms - latency_ms - offset, beat_ms / divisor)) <= HELD_MS
    return float(onsets.strengths[held].sum()) / total


def segment_red_lines(onsets: Onsets, main: RedLine, end_ms: float, latency_ms: float) -> list[RedLine]:
    """[main] unless stretches of the song hold a grid of their own clearly better: then red lines for
    those stretches and for the main tempo between them, each phased on its own onsets."""
    if len(onsets) < 2 * MIN_CHANGE_ONSETS or end_ms < 2 * MIN_CHANGE_BEATS * main.ms_per_beat * 0.7:
        return [main]
    beats = snap_to_onsets(track_beats(onsets, main.ms_per_beat, end_ms), onsets) - latency_ms
    if len(beats) < 2 * MIN_CHANGE_BEATS:
        return [main]
    candidates = fit_timing([BeatMarker(float(t)) for t in beats], leniency_ms=FIT_LENIENCY_MS)
    # what the main line's estimator adds to the raw fold of the whole song (latency, corrections)
    calibration = _wrapped(main.offset - fold_phase(onsets, main.ms_per_beat), main.ms_per_beat)
    if abs(calibration + latency_ms) > MAX_CALIBRATION_MS:
        calibration = -latency_ms
    changes: list[tuple[float, float, float, float]] = []  # (start, stop, beat ms, phase ms) of stretches
    for index, line in enumerate(candidates):
        start = line.offset if index else 0.0
        stop = candidates[index + 1].offset if index + 1 < len(candidates) else end_ms
        inside = _onsets_between(onsets, start + latency_ms, stop + latency_ms)
        if (stop - start) < MIN_CHANGE_BEATS * line.ms_per_beat or len(inside) < MIN_CHANGE_ONSETS:
            continue
        as_main = held_share(inside, main.offset, main.ms_per_beat, latency_ms)
        main_phase = (fold_phase(inside, main.ms_per_beat) + calibration) % main.ms_per_beat
        rephased = held_share(inside, main_phase, main.ms_per_beat, latency_ms)
        if abs(np.log(line.ms_per_beat / main.ms_per_beat)) >= MIN_TEMPO_CHANGE:
            phase = (fold_phase(inside, line.ms_per_beat) + calibration) % line.ms_per_beat
            own = held_share(inside, phase, line.ms_per_beat, latency_ms)
            if own - max(as_main, rephased) >= CHANGE_MARGIN:
                changes.append((start, stop, line.ms_per_beat, phase))
        else:  # the main tempo: a phase reset, where the grid moves off the main grid's sixteenths
            shift = _wrapped(main_phase - main.offset, main.ms_per_beat / 4)
            if abs(shift) >= RESET_MIN_MS and rephased - as_main >= CHANGE_MARGIN:
                changes.append((start, stop, main.ms_per_beat, main_phase))
    if not changes:
        return [main]
    return _assemble(onsets, main, changes, end_ms, latency_ms, calibration)


def _assemble(onsets: Onsets, main: RedLine, changes: list[tuple[float, float, float, float]], end_ms: float,
              latency_ms: float, calibration: float) -> list[RedLine]:
    """Red lines for the changes and for the main tempo in the stretches between them."""
    stretches: list[tuple[float, float, float, float | None]] = []
    cursor = 0.0
    for start, stop, beat_ms, phase in changes:
        if start > cursor:
            stretches.append((cursor, start, main.ms_per_beat, None))
        stretches.append((start, stop, beat_ms, phase))
        cursor = stop
    if cursor < end_ms:
        stretches.append((cursor, end_ms, main.ms_per_beat, None))
    lines: list[RedLine] = []
    for start, stop, beat_ms, phase in stretches:
        if phase is None:  # the main tempo between changes: the main grid, unless its own onsets moved off it
            if not lines:
                lines.append(main)  # the song's start keeps the main line as found
                continue
            phase = main.offset % beat_ms
            inside = _onsets_between(onsets, start + latency_ms, stop + latency_ms)
            if len(inside) >= MIN_CHANGE_ONSETS:
                found = (fold_phase(inside, beat_ms) + calibration) % beat_ms
                if abs(_wrapped(found - phase, beat_ms)) >= RESET_MIN_MS:
                    phase = found
        first = phase + np.ceil((start - phase) / beat_ms - 0.5) * beat_ms  # the grid's beat nearest the start
        if lines and first <= lines[-1].offset:
            first += beat_ms * np.ceil((lines[-1].offset - first) / beat_ms + 1e-9)
        lines.append(RedLine(offset=float(round(first)), ms_per_beat=beat_ms))
    # a stretch that continues the grid before it needs no red line of its own
    kept = [lines[0]]
    for line in lines[1:]:
        previous = kept[-1]
        steps = (line.offset - previous.offset) / previous.ms_per_beat
        if line.ms_per_beat == previous.ms_per_beat and abs(steps - round(steps)) * previous.ms_per_beat <= 1.0:
            continue
        kept.append(line)
    return kept


def _onsets_between(onsets: Onsets, start: float, stop: float) -> Onsets:
    inside = (onsets.times_ms >= start) & (onsets.times_ms < stop)
    return Onsets(onsets.times_ms[inside], onsets.strengths[inside])


def _wrapped(values, period: float):
    """`values` folded into [-period / 2, period / 2)."""
    return (values + period / 2) % period - period / 2
