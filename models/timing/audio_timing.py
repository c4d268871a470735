"""Timing heard in the audio: BPM, offset and red lines from the song's onsets, with no model.

1. Onsets: models.audio.onsets (SuperFlux-style flux, peaks refined between frames).
2. Tempo: candidates and the tempo level from folding the onsets (models.timing.tempo_search); the level
   is doubled where the off-beats are as strong as the beats (`pulse_is_twice`).
3. BPM: the beat length whose whole-song fold is sharpest, within +-REFINE_SPAN of the candidate; a
   whole BPM (else a half BPM) replaces it when its fold is as sharp within ROUND_TOLERANCE, or when
   the two grids part by at most ROUND_DRIFT_MS over the song.
4. Offset: the phase of that fold (the stronger of beat and off-beat wins, so a half-beat flip is
   checked) places the beat to about a flux frame; `attack_phase` then puts it where the attacks start.
   The flux peak lands somewhere inside an attack, later for a soft attack or a long one than for a
   click (its 64 ms window reaches ahead of a click and lags a swell: ~35 ms apart), so it moves with the
   song's sounds. The start moves far less: the waveform's energy in short windows (ATTACK_WINDOW_MS, one
   a millisecond), as a log, rises fastest as a sound comes in over what was sounding before (within
   ~2 ms of the start of a click, a kick fading in over 20 ms or a hi-hat; the end of a pluck's 3 ms
   rise; ~8 ms into a tone swelling over 30 ms). Those rises are folded onto the beat over the whole song
   (every beat votes, loud or not, so no single sound decides) and the phase of the steepest mean rise
   within ATTACK_SEARCH_MS of the flux phase is the beat, less ATTACK_LATENCY_MS (calibrated on
   hand-timed maps; bench/timing.py reports it leave-one-out). `offset_phase` does both steps, for the
   whole song or for one span of it (a red line's segment).
5. Tempo changes: models.timing.tempo_segments follows the beat through the song and, where the one
   grid stops fitting, gives those stretches their own red lines. The beats it follows are flux onsets,
   so they are moved by this song's lag of the flux phase behind the beat first.
Deterministic: the same samples give the same timing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.audio.onsets import Onsets, detect_onsets
from models.timing.fit import RedLine
from models.timing.tempo_search import (
    OFF_BEAT_WEIGHT,
    TempoCandidate,
    choose_level,
    fold,
    pulse_is_twice,
    tempo_candidates,
)
from models.timing.tempo_segments import segment_red_lines

REFINE_SPAN = 0.002  # +-0.2 % around the coarse candidate
REFINE_STEP = 0.00001  # 0.001 % steps: 0.03 ms of drift a beat, a few ms over a song
FOLD_SMOOTHING_MS = 3.0  # the fine fold's Gaussian kernel: onset times scatter by a few ms
PHASE_BIN_MS = 0.25  # the fine fold's bins: fine enough that binning moves no onset noticeably
ROUNDING_STEPS_BPM = (1.0, 0.5)
ROUND_TOLERANCE = 0.99  # a rounder BPM is kept when its fold is at least this sharp relative to the best
# ... or when it drifts from the best by at most this over the span of the onsets: less than the fold can
# tell apart (its kernel is FOLD_SMOOTHING_MS wide), and the phase is fitted over the whole span, so the
# grid stays within half of it everywhere. Hand-timed songs are mostly at whole BPMs.
ROUND_DRIFT_MS = 8.0
PHASE_REFINE_MS = 12.0  # onsets this close to the fold's peak decide the exact phase
# Onset peaks of this envelope come out this much later (ms) than the times mappers put beats at,
# measured on hand-timed maps (bench/timing.py reports it leave-one-out).
LATENCY_MS = 11.0
ATTACK_WINDOW_MS = 8.0  # energy in windows this long: short beside an attack, long beside a 60 Hz cycle
ATTACK_HOP_MS = 1.0  # one window a hop; the window is a whole number of hops
ATTACK_BLOCK_HOPS = 60_000  # samples squared a minute at a time
ATTACK_SEARCH_MS = 25.0  # the attacks' start is looked for this close to the flux phase: the flux peak lies
# within an attack (from ~15 ms before a click's start, its 64 ms window reaching ahead, to ~20 ms after a
# sound that swells over 30 ms), not a beat away
ATTACK_BIN_MS = 0.25
ATTACK_SMOOTHING_MS = 1.0  # the folded rise is averaged over this either side (hop and window jitter)
ATTACK_FLOOR = 1e-4  # energies below this share of the song's mean energy count as silence (log of zero)
# The attacks' start as `attack_phase` hears it lies this much later (ms) than where mappers put the beat, in
# osu!'s timeline (an mp3's times moved by models.audio.playback_delay first): the median over the 11
# constant-tempo corpus songs (+43.3 ms; bench/timing.py reports it leave-one-out: each song with the median
# of the others). A synthetic click is heard within about a millisecond of its start, so this is the maps'
# habit and osu!'s audio chain, not the detector's (osu!stable added 15 ms to the time BASS reported, and maps
# keep it: ppy/osu#24625).
ATTACK_LATENCY_MS = 43.0


@dataclass(frozen=True)
class AudioTiming:
    """What audio analysis found: red lines (sorted), the main tempo and its offset, the tempo candidates."""

    red_lines: list[RedLine]
    bpm: float  # the main tempo: the red line that covers most of the song
    offset_ms: float  # the main red line's first beat
    candidates: list[TempoCandidate]  # best first, scores relative to the best
    onsets: Onsets
    # how much later than the beat this song's flux onsets peak (ms): None where the red lines were given,
    # not heard (then `flux_lag` measures it against them)
    flux_lag_ms: float | None = None


def analyse_timing(samples: np.ndarray, sample_rate: int, *, playback_delay_ms: float = 0.0) -> AudioTiming | None:
    """The song's timing, or None where no steady beat is heard (silence, a lone sound).

    `playback_delay_ms`: how much later osu! plays the samples' sounds (models.audio.playback_delay: an mp3's
    gap that our decoder cuts and osu! keeps). Every time heard is moved by it first, so the red lines and the
    onsets returned are times in the map, as osu! plays the song."""
    onsets = detect_onsets(samples, sample_rate)
    onsets = Onsets(times_ms=onsets.times_ms + playback_delay_ms, strengths=onsets.strengths)
    candidates = tempo_candidates(onsets.times_ms, onsets.strengths)
    level = choose_level(candidates)
    if level is None:
        return None
    beat_ms = refine_beat_length(onsets, 60_000.0 / level.bpm)
    if pulse_is_twice(onsets.times_ms, onsets.strengths, beat_ms, beat_phase(onsets, beat_ms) + LATENCY_MS):
        beat_ms /= 2
    rise, rise_ms = energy_rise(samples, sample_rate)  # once: the main line and every stretch fold the same rises
    rise = (rise, rise_ms + playback_delay_ms)
    phase_ms = offset_phase(samples, sample_rate, onsets, beat_ms, rise=rise)
    first = phase_ms + np.floor((onsets.times_ms[0] - phase_ms) / beat_ms + 0.5) * beat_ms
    main = RedLine(offset=float(round(first)), ms_per_beat=beat_ms)
    end_ms = len(samples) / sample_rate * 1000.0 + playback_delay_ms
    # the beats followed through the song are flux onsets: in this song they lie this much after the beat
    flux_lag_ms = flux_lag(onsets, RedLine(offset=phase_ms, ms_per_beat=beat_ms))
    red_lines = segment_red_lines(
        onsets, main, end_ms, flux_lag_ms,
        lambda beat, start, stop: offset_phase(samples, sample_rate, onsets, beat, start, stop, rise=rise))
    longest = max(red_lines, key=lambda line: _span(red_lines, line, end_ms))
    return AudioTiming(red_lines=red_lines, bpm=longest.bpm, offset_ms=longest.offset, candidates=candidates,
                       onsets=onsets, flux_lag_ms=float(flux_lag_ms))


def flux_lag(onsets: Onsets, line: RedLine) -> float:
    """How much later (ms, within +-half a beat) than `line`'s beats the onsets' flux peaks fold."""
    flux_phase_ms = beat_phase(onsets, line.ms_per_beat) + LATENCY_MS
    return (flux_phase_ms - line.offset + line.ms_per_beat / 2) % line.ms_per_beat - line.ms_per_beat / 2


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
    span_ms = float(onsets.times_ms[-1] - onsets.times_ms[0]) if len(onsets) else 0.0
    for step in ROUNDING_STEPS_BPM:
        rounded_bpm = round(60_000.0 / best / step) * step
        if rounded_bpm <= 0:
            continue
        rounded = 60_000.0 / rounded_bpm
        score, _ = fold_sharpness(onsets, np.array([rounded]))
        drift_ms = abs(rounded - best) * span_ms / best
        if score[0] >= ROUND_TOLERANCE * best_score or drift_ms <= ROUND_DRIFT_MS:
            return rounded
    return best


def offset_phase(samples: np.ndarray, sample_rate: int, onsets: Onsets, beat_ms: float,
                 start_ms: float | None = None, end_ms: float | None = None, *,
                 rise: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """The phase (ms, in [0, beat_ms)) where a mapper puts the beat over [start_ms, end_ms] (the whole song by
    default; a red line's segment may ask for its own): the flux fold's phase of the onsets in that span
    (`beat_phase`), moved to where the attacks start (`attack_phase`), less ATTACK_LATENCY_MS."""
    inside = np.ones(len(onsets), dtype=bool)
    if start_ms is not None:
        inside &= onsets.times_ms >= start_ms
    if end_ms is not None:
        inside &= onsets.times_ms <= end_ms
    span = Onsets(times_ms=onsets.times_ms[inside], strengths=onsets.strengths[inside])
    flux_ms = beat_phase(span, beat_ms) + LATENCY_MS if len(span) else 0.0
    attack_ms = attack_phase(samples, sample_rate, beat_ms, flux_ms, start_ms, end_ms, rise=rise)
    return float((attack_ms - ATTACK_LATENCY_MS) % beat_ms)


def attack_phase(samples: np.ndarray, sample_rate: int, beat_ms: float, near_ms: float,
                 start_ms: float | None = None, end_ms: float | None = None, *,
                 rise: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Where the attacks on the beat start (ms, in [0, beat_ms)), within ATTACK_SEARCH_MS of the phase `near_ms`.

    The samples' log energy in ATTACK_WINDOW_MS windows, one every ATTACK_HOP_MS, rises fastest where a
    sound starts; its rises over [start_ms, end_ms] (the whole song by default: a segment of one red line
    may ask for its own) are averaged by phase within the beat, and the phase of the steepest mean rise
    is returned. As heard in the samples: no latency is taken off (the caller takes off ATTACK_LATENCY_MS).
    `near_ms` is kept where the span holds no sound. `rise`: `energy_rise(samples, sample_rate)` when the
    caller already has it."""
    rise, times_ms = rise if rise is not None else energy_rise(samples, sample_rate)
    inside = np.ones(len(times_ms), dtype=bool)
    if start_ms is not None:
        inside &= times_ms >= start_ms
    if end_ms is not None:
        inside &= times_ms <= end_ms
    deviation = (times_ms[inside] - near_ms + beat_ms / 2) % beat_ms - beat_ms / 2
    reach = ATTACK_SEARCH_MS + ATTACK_SMOOTHING_MS + ATTACK_BIN_MS
    near = np.abs(deviation) <= reach
    if not near.any() or not rise[inside][near].any():
        return near_ms % beat_ms
    bins = int(np.ceil(2 * reach / ATTACK_BIN_MS))
    index = np.minimum(((deviation[near] + reach) / ATTACK_BIN_MS).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    mean_rise = np.bincount(index, weights=rise[inside][near], minlength=bins) / np.maximum(counts, 1)
    width = int(round(ATTACK_SMOOTHING_MS / ATTACK_BIN_MS))
    mean_rise = np.convolve(mean_rise, np.ones(2 * width + 1) / (2 * width + 1), mode="same")
    centres = -reach + (np.arange(bins) + 0.5) * ATTACK_BIN_MS
    searched = np.abs(centres) <= ATTACK_SEARCH_MS
    best = centres[searched][int(np.argmax(mean_rise[searched]))]
    return float((near_ms + best) % beat_ms)


def energy_rise(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(rise of the log energy per hop, >= 0; the time in ms each rise stands for), ATTACK_HOP_MS apart."""
    hop = max(1, int(round(ATTACK_HOP_MS * sample_rate / 1000.0)))
    window_hops = max(1, int(round(ATTACK_WINDOW_MS / ATTACK_HOP_MS)))
    hops = len(samples) // hop
    if hops < window_hops + 2:
        return np.zeros(0), np.zeros(0)
    # energy per hop, a block at a time: a float64 copy of a long song's samples would cost gigabytes
    per_hop = np.empty(hops)
    for first in range(0, hops, ATTACK_BLOCK_HOPS):
        count = min(ATTACK_BLOCK_HOPS, hops - first)
        block = np.asarray(samples[first * hop:(first + count) * hop], dtype=np.float64)
        per_hop[first:first + count] = np.square(block).reshape(count, hop).sum(axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(per_hop)])
    energy = (cumulative[window_hops:] - cumulative[:-window_hops]) / (window_hops * hop)
    floor = ATTACK_FLOOR * max(float(cumulative[-1]) / (hops * hop), 1e-30)
    rise = np.maximum(np.diff(np.log(energy + floor)), 0.0)
    # window k covers hops k .. k + window_hops - 1: from window k to k + 1 hop k + window_hops comes in (and
    # hop k goes out). A sound starting out of quieter ones raises the log energy most as it comes in, so
    # the rise stands for the time of the incoming hop: the windows' leading edge.
    incoming_ms = ((np.arange(len(rise)) + window_hops) * hop + hop / 2.0) * 1000.0 / sample_rate
    return rise, incoming_ms


def beat_phase(onsets: Onsets, beat_ms: float) -> float:
    """The time (ms, in [0, beat_ms)) of the beat: the fold's peak, refined by the onsets near it."""
    _, peak = fold_sharpness(onsets, np.array([beat_ms]))
    phase = float(peak[0])
    deviation = (onsets.times_ms - phase + beat_ms / 2) % beat_ms - beat_ms / 2
    near = np.abs(deviation) <= PHASE_REFINE_MS
    if near.any():
        phase += float(np.average(deviation[near], weights=onsets.strengths[near]))
    return (phase - LATENCY_MS) % beat_ms
