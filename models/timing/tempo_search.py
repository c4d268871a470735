"""Tempo candidates of a song from its onsets: fold the onsets onto each candidate beat length.

For a beat length L, every onset's phase (time mod L) goes into a histogram of one beat; a steady
tempo piles the onsets up at one phase. The score of L is the strongest phase plus half the phase a
half-beat later (the off-beat), as a share of the onset strength folded. The song is folded in
segments of SEGMENT_MS, each with its own phase, and the segments' scores are summed, so that a
phase reset, a drift or a short tempo change in one part of the song does not blur the whole; the
slow rise of such scores with the beat length (a longer beat catches more by chance) is removed by a
straight-line trend over log-BPM. The peaks of what is left are the tempo candidates.

Tempo relatives (x2, x1/2, x3/2, x2/3) of one tempo score alike; `TempoCandidate.relatives` groups
their scores so that the level can be chosen by a rule (`choose_level`), not by a coin toss. Beyond
MAX_BPM no candidate is searched; a level is doubled past it only where the off-beats are as strong as
the beats (`pulse_is_twice`): hits evenly every half beat are a faster beat, not a slow one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_BPM, MAX_BPM = 60.0, 320.0
BPM_STEP_LOG = 0.0005  # candidates 0.05 % apart: over a segment that drifts under 3 ms
SEGMENT_MS = 12_000.0
PHASE_BINS = 48  # per beat in the coarse search
OFF_BEAT_WEIGHT = 0.5
MIN_SEGMENT_ONSETS = 4
TOP_CANDIDATES = 6
RELATIVE_RATIOS = (2.0, 0.5, 1.5, 2.0 / 3.0)
RELATIVE_TOLERANCE = 0.004  # a peak within 0.4 % of an exact ratio counts as that relative
PREFERRED_BPM = 175.0  # where osu! songs are mapped most: the tie-break between octaves
LEVEL_MARGIN = 0.9  # an octave nearer PREFERRED_BPM wins when it scores at least this share of the best
# Off-beats this strong beside the beats (onset strength within EVEN_WINDOW_MS of each) mean the pulse is
# twice as fast as the level found: an even stream of hits. On the corpus the songs mapped at the level
# found measure 0.06-0.53; a 460 BPM speedcore song, found at 230 and mapped at 460, measures 0.93.
EVEN_OFF_BEAT_SHARE = 0.8
EVEN_WINDOW_MS = 6.0
MAX_DOUBLED_BPM = 500.0  # no faster level than this (osu! songs are hardly ever mapped above it)


@dataclass(frozen=True)
class TempoCandidate:
    bpm: float
    score: float  # detrended salience, 1.0 for the best candidate of the song


def tempo_salience(times_ms: np.ndarray, strengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(BPMs, detrended salience) over MIN_BPM..MAX_BPM on a log grid."""
    bpms = MIN_BPM * np.exp(np.arange(0.0, np.log(MAX_BPM / MIN_BPM), BPM_STEP_LOG))
    beat_ms = 60_000.0 / bpms
    total = np.zeros(len(bpms))
    if len(times_ms) == 0:
        return bpms, total
    for start in np.arange(0.0, float(times_ms.max()) + 1.0, SEGMENT_MS):
        inside = (times_ms >= start) & (times_ms < start + SEGMENT_MS)
        if inside.sum() < MIN_SEGMENT_ONSETS:
            continue
        weights = strengths[inside]
        histogram = fold(times_ms[inside], weights, beat_ms, PHASE_BINS)
        histogram = histogram + 0.5 * (np.roll(histogram, 1, axis=1) + np.roll(histogram, -1, axis=1))
        score = histogram + OFF_BEAT_WEIGHT * np.roll(histogram, -PHASE_BINS // 2, axis=1)
        # a segment counts by the square root of its onset strength: loud parts lead, quiet ones still vote
        total += score.max(axis=1) / weights.sum() * np.sqrt(weights.sum())
    log_bpm = np.log(bpms)
    design = np.stack([log_bpm, np.ones_like(log_bpm)], axis=1)
    trend, *_ = np.linalg.lstsq(design, total, rcond=None)
    return bpms, total - design @ trend


def fold(times_ms: np.ndarray, strengths: np.ndarray, beat_ms: np.ndarray, bins: int) -> np.ndarray:
    """[len(beat_ms), bins] histograms of onset strength by phase within one beat of each length."""
    phase = np.floor((times_ms[None, :] / beat_ms[:, None]) % 1.0 * bins).astype(np.int64) % bins
    flat = (np.arange(len(beat_ms))[:, None] * bins + phase).ravel()
    weights = np.broadcast_to(strengths, phase.shape).ravel()
    return np.bincount(flat, weights=weights, minlength=len(beat_ms) * bins).reshape(len(beat_ms), bins)


def tempo_candidates(times_ms: np.ndarray, strengths: np.ndarray) -> list[TempoCandidate]:
    """The strongest salience peaks, best first, scores relative to the best (at most TOP_CANDIDATES)."""
    bpms, salience = tempo_salience(times_ms, strengths)
    inner = salience[1:-1]
    peaks = np.flatnonzero((inner >= salience[:-2]) & (inner >= salience[2:]) & (inner > 0)) + 1
    if len(peaks) == 0:
        return []
    peaks = peaks[np.argsort(-salience[peaks], kind="stable")][:TOP_CANDIDATES]
    best = salience[peaks[0]]
    return [TempoCandidate(bpm=float(bpms[i]), score=float(salience[i] / best)) for i in peaks]


def is_relative(bpm: float, other: float) -> bool:
    """Whether `other` is x2, x1/2, x3/2 or x2/3 of `bpm` (or the same tempo)."""
    return any(abs(other / (bpm * ratio) - 1.0) <= RELATIVE_TOLERANCE for ratio in (1.0, *RELATIVE_RATIOS))


def choose_level(candidates: list[TempoCandidate]) -> TempoCandidate | None:
    """The tempo level to map at: the best candidate, unless its double or half scores nearly as well
    and lies nearer PREFERRED_BPM (songs are felt, and mapped, at the level nearer the middle)."""
    if not candidates:
        return None
    best = candidates[0]
    chosen = best
    for other in candidates[1:]:
        octave = any(abs(other.bpm / (best.bpm * ratio) - 1.0) <= RELATIVE_TOLERANCE for ratio in (2.0, 0.5))
        nearer = abs(np.log(other.bpm / PREFERRED_BPM)) < abs(np.log(chosen.bpm / PREFERRED_BPM))
        if octave and other.score >= LEVEL_MARGIN and nearer:
            chosen = other
    return chosen


def pulse_is_twice(times_ms: np.ndarray, strengths: np.ndarray, beat_ms: float, phase_ms: float) -> bool:
    """Whether the off-beats (half a beat after `phase_ms`) hold at least EVEN_OFF_BEAT_SHARE of the onset
    strength the beats hold: then the beat is half as long (unless that is faster than MAX_DOUBLED_BPM)."""
    if 60_000.0 / (beat_ms / 2) > MAX_DOUBLED_BPM or len(times_ms) == 0:
        return False
    deviation = (times_ms - phase_ms + beat_ms / 2) % beat_ms - beat_ms / 2
    on_beat = float(strengths[np.abs(deviation) <= EVEN_WINDOW_MS].sum())
    off_beat = float(strengths[np.abs(np.abs(deviation) - beat_ms / 2) <= EVEN_WINDOW_MS].sum())
    return on_beat > 0 and off_beat >= EVEN_OFF_BEAT_SHARE * on_beat
