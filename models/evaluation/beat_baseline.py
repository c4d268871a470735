"""The beat-only baseline for `mapper eval --baseline beats`: what a map scores that puts one object on
every detected beat of the song and nothing else. A model's figures mean something only beside it.

The detector is deliberately plain and reproducible (numpy only, no model, no randomness):
1. onset strength: half-wave rectified spectral flux of the log-magnitude spectrum, 16 ms windows every 4 ms;
2. tempo: the autocorrelation of that envelope between 60 and 240 BPM, weighted by a log-normal prior
   around 140 BPM (one octave wide), since osu! songs sit mostly between 100 and 200 BPM and a beat
   tracker's usual failure is an octave;
3. fine tempo and phase: the BPM (+-3 % in 0.02 BPM steps) and first beat (1 ms steps) whose beat
   positions collect the most onset strength.
One red line at that tempo and phase; an object on every beat from the first to the last onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenization.beatmap import (
    Beatmap,
    Circle,
    Difficulty,
    GameMode,
    General,
    HitObject,
    Metadata,
    TimingPoint,
)

SAMPLE_RATE = 16000
HOP = 64  # 4 ms
N_FFT = 256  # 16 ms: a short window keeps the onset's place in it (the latency) small
BPM_RANGE = (60.0, 240.0)
PRIOR_BPM, PRIOR_OCTAVES = 140.0, 1.0
FINE_SPAN, FINE_STEP_BPM = 0.03, 0.02
TAGS = ["mapper-baseline", "beats-only"]


@dataclass(frozen=True)
class BeatGrid:
    bpm: float
    offset_ms: float  # the first beat
    start_ms: float  # first and last onsets: the span the objects cover
    end_ms: float


def onset_envelope(samples: np.ndarray) -> np.ndarray:
    """Spectral flux per 4 ms frame, mean-removed and clipped at zero (so steady noise adds nothing)."""
    if len(samples) < N_FFT:
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]
    spectrum = np.log1p(100.0 * np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1)))
    flux = np.maximum(np.diff(spectrum, axis=0), 0.0).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    # frame i is centred at i*HOP + N_FFT/2 samples; shift so index i means time i*HOP
    shift = N_FFT // (2 * HOP)
    flux = np.concatenate([np.zeros(shift), flux])
    width = min(250, len(flux))  # 1 s running mean (less for a shorter song: "same" keeps the longer length)
    local = np.convolve(flux, np.ones(width) / width, mode="same")
    return np.maximum(flux - local, 0.0)


def _coarse_bpm(envelope: np.ndarray) -> float:
    frame_ms = HOP * 1000 / SAMPLE_RATE
    centred = envelope - envelope.mean()
    spectrum = np.fft.rfft(centred, n=2 * len(centred))
    autocorr = np.fft.irfft(spectrum * np.conj(spectrum))[:len(centred)]
    lags = np.arange(int(60000 / BPM_RANGE[1] / frame_ms), int(60000 / BPM_RANGE[0] / frame_ms) + 1)
    lags = lags[lags < len(autocorr)]
    if len(lags) == 0:
        return PRIOR_BPM
    bpms = 60000.0 / (lags * frame_ms)
    prior = np.exp(-0.5 * (np.log2(bpms / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    return float(bpms[int(np.argmax(autocorr[lags] * prior))])


def detect_beats(samples: np.ndarray) -> BeatGrid | None:
    """The song's beat grid, or None for a silent (or too short) song."""
    envelope = onset_envelope(samples)
    if not envelope.any():
        return None
    frame_ms = HOP * 1000 / SAMPLE_RATE
    active = np.flatnonzero(envelope > 0.1 * envelope.max())
    start_ms, end_ms = active[0] * frame_ms, active[-1] * frame_ms
    # 1 ms resolution for the phase search: the envelope repeated per ms by linear interpolation
    ms = np.arange(0, len(envelope) * frame_ms)
    fine = np.interp(ms, np.arange(len(envelope)) * frame_ms, envelope)
    coarse = _coarse_bpm(envelope)
    best = (-1.0, coarse, 0.0)
    for bpm in np.arange(coarse * (1 - FINE_SPAN), coarse * (1 + FINE_SPAN), FINE_STEP_BPM):
        beat = 60000.0 / bpm
        phases = np.arange(0, beat, 1.0)
        beats = np.arange(0, (len(fine) - beat) / beat) * beat
        if len(beats) == 0:
            continue
        index = np.rint(phases[:, None] + beats[None, :]).astype(int)
        scores = fine[np.minimum(index, len(fine) - 1)].sum(axis=1) / len(beats)
        top = int(np.argmax(scores))
        if scores[top] > best[0]:
            best = (float(scores[top]), float(bpm), float(phases[top]))
    _, bpm, phase = best
    return BeatGrid(bpm=bpm, offset_ms=phase, start_ms=start_ms, end_ms=end_ms)


def beat_beatmap(grid: BeatGrid, reference: Beatmap, audio_file: str) -> Beatmap:
    """A map in the reference's mode (and key count) with one object on every beat of `grid`."""
    beat = 60000.0 / grid.bpm
    first = grid.offset_ms + np.ceil((grid.start_ms - grid.offset_ms - 1) / beat) * beat
    times = np.arange(first, grid.end_ms + 1, beat)
    mode = reference.mode
    keys = max(1, int(reference.difficulty.circle_size)) if mode is GameMode.MANIA else 4
    objects: list[HitObject] = []
    for number, time in enumerate(times):
        x = int((number % keys + 0.5) * 512 / keys) if mode is GameMode.MANIA else 256
        circle = Circle(x, 192, int(round(time)))
        circle.new_combo = mode is not GameMode.MANIA and number % 4 == 0
        objects.append(circle)
    return Beatmap(
        general=General(audio_filename=audio_file, mode=mode),
        metadata=Metadata(title=reference.metadata.title, artist=reference.metadata.artist, creator="mapper baseline",
                          version="Beats only", tags=list(TAGS)),
        difficulty=Difficulty(circle_size=reference.difficulty.circle_size,
                              slider_multiplier=reference.difficulty.slider_multiplier),
        timing_points=[TimingPoint(grid.offset_ms, beat, 4)], hit_objects=objects)


def baseline_for(audio: Path, reference: Beatmap) -> Beatmap | None:
    """The beat-only map for one song, or None when no beat is found (silence)."""
    from models.audio.loading import load_audio

    grid = detect_beats(load_audio(audio, sample_rate=SAMPLE_RATE))
    return None if grid is None else beat_beatmap(grid, reference, audio.name)
