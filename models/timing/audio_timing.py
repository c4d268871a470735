"""Timing heard in the audio: BPM, offset and red lines from the song's onsets, with no model.

1. Onsets: models.audio.onsets (SuperFlux-style flux, peaks refined between frames).
2. Tempo: candidates and the tempo level from folding the onsets (models.timing.tempo_search).
3. BPM: the beat length whose whole-song fold is sharpest, within +-REFINE_SPAN of the candidate; a
   whole BPM (else a half BPM) replaces it when its fold is as sharp within ROUND_TOLERANCE.
4. Offset: the phase of that fold (the stronger of beat and off-beat wins, so a half-beat flip is
   checked), refined to the strength-weighted mean of the onsets near it, less LATENCY_MS.
5. Tempo changes: models.timing.tempo_segments follows the beat through the song and, where the one
   grid stops fitting, gives those stretches their own red lines.
Deterministic: the same samples give the same timing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.audio.onsets import Onsets, detect_onsets
from models.timing.fit import RedLine
from models.timing.tempo_search import OFF_BEAT_WEIGHT, TempoCandidate, choose_level, fold, tempo_candidates
from models.timing.tempo_segments import segment_red_lines

REFINE_SPAN = 0.002  # +-0.2 % around the coarse candidate
REFINE_STEP = 0.00001  # 0.001 % steps: 0.03 ms of drift a beat, a few ms over a song
FOLD_SMOOTHING_MS = 3.0  # the fine fold's Gaussian kernel: onset times scatter by a few ms
PHASE_BIN_MS = 0.25  # the fine fold's bins: fine enough that binning moves no onset noticeably
ROUNDING_STEPS_BPM = (1.0, 0.5)
ROUND_TOLERANCE = 0.99  # a rounder BPM is kept when its fold is at least this sharp relative to the best
PHASE_REFINE_MS = 12.0  # onsets this close to the fold's peak decide the exact phase
# Onset peaks of this envelope come out this much later (ms) than the times mappers put beats at,
# measured on hand-timed maps (bench/timing.py reports it leave-one-out).
LATENCY_MS = 11.0


@dataclass(frozen=True)
class AudioTiming:
    """What audio analysis found: red lines (sorted), the main tempo and its offset, the tempo candidates."""

    red_lines: list[RedLine]
    bpm: float  # the main tempo: the red line that covers most of the song
    offset_ms: float  # the main red line's first beat
    candidates: list[TempoCandidate]  # best first, scores relative to the best
    onsets: Onsets


def analyse_timing(samples: np.ndarray, sample_rate: int) -> AudioTiming | None:
    """The song's timing, or None where no steady beat is heard (silence, a lone sound)."""
    onsets = detect_onsets(samples, sample_rate)
    candidates = tempo_candidates(onsets.times_ms, onsets.strengths)
    level = choose_level(candidates)
    if level is None:
        return None
    beat_ms = refine_beat_length(onsets, 60_000.0 / level.bpm)
    phase_ms = beat_phase(onsets, beat_ms)
    first = phase_ms + np.floor((onsets.times_ms[0] - phase_ms) / beat_ms + 0.5) * beat_ms
    main = RedLine(offset=float(round(first)), ms_per_beat=beat_ms)
    end_ms = len(samples) / sample_rate * 1000.0
    red_lines = segment_red_lines(onsets, main, end_ms, LATENCY_MS)
    longest = max(red_lines, key=lambda line: _span(red_lines, line, end_ms))
    return AudioTiming(red_lines=red_lines, bpm=longest.bpm, offset_ms=longest.offset, candidates=candidates,
                       onsets=onsets)


def _span(lines: list[RedLine], line: RedLine, end_ms: float) -> float:
    index = lines.index(line)
    return (lines[index + 1].offset if index + 1 < len(lines) else end_ms) - line.offset


def fold_sharpness(onsets: Onsets, beat_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score per beat length, phase of the score's peak in ms) of the whole song folded at each length.

    Score: the onset strength under a Gaussian at the best phase plus OFF_BEAT_WEIGHT of that half a
    beat later, as a share of all onset strength."""
    bins = max(8, int(round(float(np.mean(beat_ms)) / PHASE_BIN_MS)))
    histogram = fold(onsets.times_ms, onsets.strengths, beat_ms, bins)
    kernel_bins = np.arange(bins)
    kernel_bins = np.minimum(kernel_bins, bins - kernel_bins) * (np.mean(beat_ms) / bins)
    kernel = np.exp(-0.5 * (kernel_bins / FOLD_SMOOTHING_MS) ** 2)
    smooth = np.fft.irfft(np.fft.rfft(histogram, axis=1) * np.fft.rfft(kernel), n=bins, axis=1)
    score = smooth + OFF_BEAT_WEIGHT * np.roll(smooth, -(bins // 2), axis=1)
    peak = np.argmax(score, axis=1)
    total = max(float(onsets.strengths.sum()), 1e-12)
    return score[np.arange(len(beat_ms)), peak] / total, peak / bins * beat_ms


def refine_beat_length(onsets: Onsets, beat_ms: float) -> float:
    """The sharpest beat length near `beat_ms`, rounded to a whole or half BPM when that fits as well."""
    ratios = np.arange(-REFINE_SPAN, REFINE_SPAN + REFINE_STEP / 2, REFINE_STEP)
    lengths = beat_ms * (1.0 + ratios)
    scores, _ = fold_sharpness(onsets, lengths)
    best = float(lengths[int(np.argmax(scores))])
    best_score = float(scores.max())
    for step in ROUNDING_STEPS_BPM:
        rounded_bpm = round(60_000.0 / best / step) * step
        if rounded_bpm <= 0:
            continue
        rounded = 60_000.0 / rounded_bpm
        score, _ = fold_sharpness(onsets, np.array([rounded]))
        if score[0] >= ROUND_TOLERANCE * best_score:
            return rounded
    return best


def beat_phase(onsets: Onsets, beat_ms: float) -> float:
    """The time (ms, in [0, beat_ms)) of the beat: the fold's peak, refined by the onsets near it."""
    _, peak = fold_sharpness(onsets, np.array([beat_ms]))
    phase = float(peak[0])
    deviation = (onsets.times_ms - phase + beat_ms / 2) % beat_ms - beat_ms / 2
    near = np.abs(deviation) <= PHASE_REFINE_MS
    if near.any():
        phase += float(np.average(deviation[near], weights=onsets.strengths[near]))
    return (phase - LATENCY_MS) % beat_ms
