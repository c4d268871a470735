"""Tempo changes: follow the beat through the song and give the stretches one grid cannot hold their own red lines.

The beat is followed by dynamic programming over the onset strength (Ellis 2007, "Beat tracking by
dynamic programming"): every beat is an onset-strong instant about one beat length after the previous
one, and a step that differs from the beat length costs the square of its log-ratio. That path bends
with a live drummer or a tempo change where a fixed grid cannot. Each tracked beat is then moved onto
the strength-weighted mean of the onsets near it, and `models.timing.fit.fit_timing` turns the beats
into candidate red lines.

A candidate only replaces the grid in force (the main one, or a change before it) where the audio says so.
Its stretch must be long enough to decide (MIN_CHANGE_BEATS beats with MIN_CHANGE_ONSETS onsets, so a short
clip, a fill or a break cannot split a song), and its own grid must put a clearly larger share of the
stretch's onset strength on its beats and off-beats than the grid in force does, as it is or re-phased on
the stretch (CHANGE_MARGIN). A tempo within MIN_TEMPO_CHANGE of the one in force is drift or swing, not a
change: it can only be a phase reset, and a reset must move the grid off the sixteenths of the grid in force
by RESET_MIN_MS and hold for MIN_RESET_BEATS. From a change, a stretch (or a run of stretches too short to
decide, pooled) that the main grid holds clearly better leads back to the main grid. Tracked beats wander in
breaks and rubato and lock onto the off-beat or a sixteenth stream for a while; such a path holds no more
onsets than the grid in force, or lies on its sixteenths, so no red line comes from it. A real tempo change
drifts through the old grid within a few beats, so the old grid holds little of it. A change's tempo is
refined on its stretch's onsets and rounded to a whole or half BPM as the main tempo is.

Every stretch's phase (the main tempo's own stretch too, once the song changes tempo) is the main line's own
estimator run on the stretch where the caller passes it (`span_phase`), else the stretch's onsets folded at
its beat length, shifted by what the main line's estimator adds to the same fold of the whole song.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.audio.onsets import Onsets
from models.timing.fit import BeatMarker, RedLine, fit_timing
from models.timing.tempo_search import OFF_BEAT_WEIGHT, fold

SpanPhase = Callable[[float, float, float], float]  # (beat ms, start ms, end ms) -> phase ms, see segment_red_lines

CELL_MS = 2.0  # the path's time resolution
STRENGTH_SMOOTHING_MS = 6.0
STEP_RANGE = (0.7, 1.4)  # a step between beats may be this share of the beat length
STEP_PENALTY = 50.0  # cost of a step per squared log-ratio to the beat length (in units of the strength's std)
SNAP_MS = 12.0  # onsets this close to a tracked beat decide its exact time
FIT_LENIENCY_MS = 15.0  # candidate red lines from tracked beats keep every beat within this
MIN_CHANGE_BEATS = 16  # a stretch shorter than four bars is no tempo change (fills, rubato, a clip's edges)
MIN_CHANGE_ONSETS = 12  # ... nor a stretch with this few onsets to decide it (a break)
HELD_MS = 10.0  # an onset this close to a grid's beat or off-beat is held by that grid
GRID_DIVISORS = (1, 2)  # beats and off-beats: sixteenth streams (hi-hats) and swing hold no grid's tempo
CHANGE_MARGIN = 0.25  # a stretch's own grid must hold this much more of its onset strength than the main grid
MIN_RESET_BEATS = 32  # a phase reset holds for at least eight bars (a cut in an edit does; a band rushing a few
# bars, or a section of soft attacks, is no new grid)
MIN_TEMPO_CHANGE = 0.01  # log-ratio: a stretch within 1 % of the main tempo is drift or swing, not a change
RESET_MIN_MS = 25.0  # a phase reset moves the grid at least this far off the main grid's sixteenths (onsets of
# soft sounds come 10-20 ms late, and a tracker locks onto a sixteenth stream for a while: neither is a reset)
MAX_MOVE_BACK_BEATS = 4  # a change's line is moved back over at most this many beats it already holds
TEMPO_REFINE_SPAN = 0.01  # a stretch's tempo is looked for within 1 % of the line fitted to its tracked beats
TEMPO_REFINE_STEP = 0.0002
ROUNDING_STEPS_BPM = (1.0, 0.5)
ROUND_SLACK = 0.02  # a rounder BPM is kept when it holds at most this much less of the stretch's onsets,
ROUND_DRIFT_MS = 8.0  # ... or when its grid parts from the sharpest one by at most this over the stretch
PHASE_BIN_MS = 0.5
PHASE_SMOOTHING_MS = 3.0  # onset times scatter by a few ms
PHASE_REFINE_MS = 12.0  # onsets this close to the fold's peak decide the exact phase
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


def _folded(onsets: Onsets, beat_ms: np.ndarray) -> np.ndarray:
    """[len(beat_ms), bins] smoothed folds, each bin scored as a beat plus OFF_BEAT_WEIGHT of its off-beat
    (as the main line's fold: the half-beat flip is checked), as a share of the onset strength."""
    bins = max(8, int(round(float(np.mean(beat_ms)) / PHASE_BIN_MS)))
    histogram = fold(onsets.times_ms, onsets.strengths, beat_ms, bins)
    distance = np.arange(bins)
    distance = np.minimum(distance, bins - distance) * (float(np.mean(beat_ms)) / bins)
    kernel = np.exp(-0.5 * (distance / PHASE_SMOOTHING_MS) ** 2)
    smooth = np.fft.irfft(np.fft.rfft(histogram, axis=1) * np.fft.rfft(kernel), n=bins, axis=1)
    score = smooth + OFF_BEAT_WEIGHT * np.roll(smooth, -(bins // 2), axis=1)
    return score / max(float(onsets.strengths.sum()), 1e-12)


def fold_phase(onsets: Onsets, beat_ms: float) -> float:
    """The raw phase (ms, in [0, beat_ms)) where the onsets pile up when folded at `beat_ms`: the smoothed
    fold's peak, refined by the onsets near it. No latency: `segment_red_lines` calibrates it on the main line."""
    score = _folded(onsets, np.array([beat_ms]))[0]
    phase = float(np.argmax(score)) / len(score) * beat_ms
    deviation = _wrapped(onsets.times_ms - phase, beat_ms)
    near = np.abs(deviation) <= PHASE_REFINE_MS
    if near.any():
        phase += float(np.average(deviation[near], weights=onsets.strengths[near]))
    return phase % beat_ms


def stretch_tempo(onsets: Onsets, beat_ms: float, phase_of: Callable[[float], float], latency_ms: float) -> float:
    """The beat length near `beat_ms` (fitted to tracked beats) whose fold of the stretch's onsets is sharpest,
    or a whole (else a half) BPM where that grid, phased on the stretch, holds as much of its onsets
    (within ROUND_SLACK) or parts from it by at most ROUND_DRIFT_MS over the stretch: hand-timed songs are at whole BPMs, and a fold of a few bars is too noisy to
    tell 180 from 179.93."""
    lengths = beat_ms * (1.0 + np.arange(-TEMPO_REFINE_SPAN, TEMPO_REFINE_SPAN + 1e-9, TEMPO_REFINE_STEP))
    best = float(lengths[int(np.argmax(_folded(onsets, lengths).max(axis=1)))])

    def held(length: float) -> float:
        return held_share(onsets, phase_of(length), length, latency_ms)

    best_held = held(best)
    span_ms = float(onsets.times_ms[-1] - onsets.times_ms[0]) if len(onsets) else 0.0
    for step in ROUNDING_STEPS_BPM:
        rounded = 60_000.0 / (round(60_000.0 / best / step) * step)
        if abs(rounded - best) * span_ms / best <= ROUND_DRIFT_MS or held(rounded) >= best_held - ROUND_SLACK:
            return rounded
    return best


def held_share(onsets: Onsets, offset: float, beat_ms: float, latency_ms: float) -> float:
    """The share of the onsets' strength within HELD_MS of the beats and off-beats of the grid (offset, beat_ms)."""
    total = float(onsets.strengths.sum())
    if total <= 0:
        return 0.0
    held = np.zeros(len(onsets), dtype=bool)
    for divisor in GRID_DIVISORS:
        held |= np.abs(_wrapped(onsets.times_ms - latency_ms - offset, beat_ms / divisor)) <= HELD_MS
    return float(onsets.strengths[held].sum()) / total


def segment_red_lines(onsets: Onsets, main: RedLine, end_ms: float, latency_ms: float,
                      span_phase: SpanPhase | None = None) -> list[RedLine]:
    """[main] unless stretches of the song hold a grid of their own clearly better than the grid in force
    before them: then a red line where each such stretch starts, phased on its own onsets.

    `span_phase(beat_ms, start_ms, end_ms)`, where given, is the main line's own phase estimator run on the
    onsets (times as heard) within [start_ms, end_ms): every stretch is then phased exactly as the main line
    is. Without it, each stretch's fold is calibrated on the main line (see the module's docstring)."""
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

    def phase_of(beat_ms: float, start_ms: float, stop_ms: float) -> float:
        """The grid's phase (ms, as mapped) over the onsets heard within [start_ms, stop_ms)."""
        if span_phase is not None:
            return float(span_phase(beat_ms, start_ms, stop_ms)) % beat_ms
        return (fold_phase(_onsets_between(onsets, start_ms, stop_ms), beat_ms) + calibration) % beat_ms

    lines = [main]
    beat_ms, phase = main.ms_per_beat, main.offset % main.ms_per_beat  # the grid in force
    on_main = (main.ms_per_beat, main.offset % main.ms_per_beat)
    for start, stop, fitted_ms in _stretches(candidates, onsets, end_ms, latency_ms):
        heard = (start + latency_ms - HELD_MS, stop + latency_ms)
        inside = _onsets_between(onsets, *heard)
        if (stop - start) < MIN_CHANGE_BEATS * (fitted_ms or beat_ms) or len(inside) < MIN_CHANGE_ONSETS:
            continue  # too little to decide: the grid in force goes on
        current = held_share(inside, phase, beat_ms, latency_ms)
        back = held_share(inside, on_main[1], on_main[0], latency_ms)
        if (beat_ms, phase) != on_main and back - current >= CHANGE_MARGIN:
            # back on the main grid (a stretch of its own or pooled from stretches too short to decide)
            lines.append(_line_from(start, *on_main, lines[-1]))
            beat_ms, phase = on_main
            continue
        if fitted_ms is None:
            continue  # pooled short stretches may only lead back to the main grid
        # a tempo within MIN_TEMPO_CHANGE of the main one is the main one (the way back from a change)
        own_beat = main.ms_per_beat if _same_tempo(fitted_ms, main.ms_per_beat) else None
        reset_phase = phase_of(beat_ms, *heard)
        reset = held_share(inside, reset_phase, beat_ms, latency_ms)
        if own_beat is None and not _same_tempo(fitted_ms, beat_ms):
            own_beat = stretch_tempo(inside, fitted_ms, lambda length, span=heard: phase_of(length, *span), latency_ms)
        if own_beat is not None and not _same_tempo(own_beat, beat_ms):
            own_phase = phase_of(own_beat, *heard)
            if own_beat == main.ms_per_beat and abs(_wrapped(own_phase - main.offset, own_beat)) < RESET_MIN_MS:
                own_phase = on_main[1]  # back on the main grid
            if held_share(inside, own_phase, own_beat, latency_ms) - max(current, reset) >= CHANGE_MARGIN:
                change = _line_from(start, own_beat, own_phase, lines[-1])
                lines.append(_moved_back(change, onsets, (beat_ms, phase), lines[-1], latency_ms))
                beat_ms, phase = own_beat, own_phase
        # the same tempo: a phase reset, where the grid moves off the sixteenths of the grid in force for long
        elif (abs(_wrapped(reset_phase - phase, beat_ms / 4)) >= RESET_MIN_MS and reset - current >= CHANGE_MARGIN
              and stop - start >= MIN_RESET_BEATS * beat_ms):
            phase = reset_phase
            lines.append(_line_from(start, beat_ms, phase, lines[-1]))
    if len(lines) == 1:
        return lines
    if lines[1].offset <= main.offset + MIN_CHANGE_BEATS * main.ms_per_beat / 2:
        return lines[1:]  # the song starts with a change: the main line only stood for a few beats before it
    # the main line was phased on the whole song, other tempos' onsets included: phase it on its own stretch
    heard = (main.offset + latency_ms - main.ms_per_beat / 2, lines[1].offset + latency_ms)
    own = _onsets_between(onsets, *heard)
    if len(own) >= MIN_CHANGE_ONSETS:
        lines[0] = _line_from(float(own.times_ms[0]) - latency_ms, main.ms_per_beat, phase_of(main.ms_per_beat, *heard))
    return lines


def _stretches(candidates: list[RedLine], onsets: Onsets, end_ms: float,
               latency_ms: float) -> list[tuple[float, float, float | None]]:
    """(start, stop, fitted beat ms) of each candidate line's stretch, runs of stretches too short to decide
    (under MIN_CHANGE_BEATS beats) pooled into one with no fitted beat."""
    out: list[tuple[float, float, float | None]] = []
    for index, line in enumerate(candidates):
        start = line.offset if index else float(onsets.times_ms[0]) - latency_ms
        stop = candidates[index + 1].offset if index + 1 < len(candidates) else end_ms
        if stop - start >= MIN_CHANGE_BEATS * line.ms_per_beat:
            out.append((start, stop, line.ms_per_beat))
        elif out and out[-1][2] is None:
            out[-1] = (out[-1][0], stop, None)
        else:
            out.append((start, stop, None))
    return out


def _moved_back(change: RedLine, onsets: Onsets, before: tuple[float, float], previous: RedLine,
                latency_ms: float) -> RedLine:
    """`change` started beat by beat earlier while its earlier beats have an onset the grid before it lacks:
    tracked beats take a beat or two to turn at a change, the fitted line starts late by as much."""
    beat_ms, phase = before
    offset = change.offset
    for _ in range(MAX_MOVE_BACK_BEATS):
        earlier = offset - change.ms_per_beat
        if earlier <= previous.offset:
            break
        heard = np.min(np.abs(onsets.times_ms - latency_ms - earlier), initial=np.inf) <= HELD_MS
        on_old = abs(_wrapped(earlier - phase, beat_ms / 2)) <= HELD_MS
        if not heard or on_old:
            break
        offset = earlier
    return RedLine(offset=float(round(offset)), ms_per_beat=change.ms_per_beat, meter=change.meter)


def _same_tempo(beat_ms: float, other_ms: float) -> bool:
    return abs(np.log(beat_ms / other_ms)) < MIN_TEMPO_CHANGE


def _line_from(start: float, beat_ms: float, phase: float, previous: RedLine | None = None) -> RedLine:
    """The red line of the grid (beat_ms, phase) on its beat nearest `start`, after the previous line."""
    first = phase + np.ceil((start - phase) / beat_ms - 0.5) * beat_ms
    if previous is not None and first <= previous.offset:
        first += beat_ms * np.ceil((previous.offset - first) / beat_ms + 1e-9)
    return RedLine(offset=float(round(first)), ms_per_beat=beat_ms)


def _onsets_between(onsets: Onsets, start: float, stop: float) -> Onsets:
    inside = (onsets.times_ms >= start) & (onsets.times_ms < stop)
    return Onsets(onsets.times_ms[inside], onsets.strengths[inside])


def _wrapped(values, period: float):
    """`values` folded into [-period / 2, period / 2)."""
    return (values + period / 2) % period - period / 2
