"""Tempo changes: follow the beat through the song and give the stretches one grid cannot hold their own red lines.

The beat is followed by dynamic programming over the onset strength (Ellis 2007, "Beat tracking by
dynamic programming"): every beat is an onset-strong instant about one beat length after the previous
one, and a step that differs from the beat length costs the square of its log-ratio. That path bends
with a live drummer or a tempo change where a fixed grid cannot. Each tracked beat is then moved onto
the strength-weighted mean of the onsets near it, and `models.timing.fit.fit_timing` turns the beats
into the fewest red lines that hold them all (splitting where one line stops fitting, rounding BPMs).
When the song's one grid already holds nearly every tracked beat, the song keeps that one line.
"""

from __future__ import annotations

import numpy as np

from models.audio.onsets import Onsets
from models.timing.fit import BeatMarker, RedLine, fit_timing

CELL_MS = 2.0  # the path's time resolution
STRENGTH_SMOOTHING_MS = 6.0
STEP_RANGE = (0.7, 1.4)  # a step between beats may be this share of the beat length
STEP_PENALTY = 50.0  # cost of a step per squared log-ratio to the beat length (in units of the strength's std)
SNAP_MS = 12.0  # onsets this close to a tracked beat decide its exact time
FITS_GRID_MS = 15.0  # a tracked beat this close to the one grid is held by it
FITS_GRID_SHARE = 0.6  # ... and a song whose beats are this often held keeps the one line (tracked beats wander
# in breaks, so constant-tempo songs measure 0.75-0.99 here; a clear tempo change halfway measures ~0.5)
FIT_LENIENCY_MS = 15.0  # red lines from tracked beats keep every beat within this


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
    for cell in range(int(steps[0]), cells):
        before = cell - steps
        valid = before >= 0
        options = score[before[valid]] - step_cost[valid]
        best = int(np.argmax(options))
        if options[best] > 0:
            score[cell] = strength[cell] + options[best]
            previous[cell] = before[valid][best]
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


def share_on_grid(beats: np.ndarray, line: RedLine) -> float:
    if len(beats) == 0:
        return 1.0
    deviation = (beats - line.offset + line.ms_per_beat / 2) % line.ms_per_beat - line.ms_per_beat / 2
    return float(np.mean(np.abs(deviation) <= FITS_GRID_MS))


def segment_red_lines(onsets: Onsets, main: RedLine, end_ms: float, latency_ms: float) -> list[RedLine]:
    """[main] when its grid holds the song's tracked beats, else red lines fitted to those beats."""
    beats = snap_to_onsets(track_beats(onsets, main.ms_per_beat, end_ms), onsets) - latency_ms
    if len(beats) < 8 or share_on_grid(beats, main) >= FITS_GRID_SHARE:
        return [main]
    lines = fit_timing([BeatMarker(float(t)) for t in beats], leniency_ms=FIT_LENIENCY_MS)
    return lines or [main]
