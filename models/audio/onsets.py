"""Onsets heard in a song: a SuperFlux-style onset envelope and its peaks (no model, deterministic).

The envelope is spectral flux on a log-magnitude filterbank (log-spaced bands, 24 per octave), where
each band of the earlier frame is first passed through a maximum filter across neighbouring bands so
that vibrato and glides (a partial moving by a band) add nothing; only rises count (Böck & Widmer 2013,
"Maximum filter vibrato suppression for onset detection"). The rises are summed in a few frequency
regions (bass, body, air) and each region is scaled by its own loudness over the whole song, so a
hi-hat line is heard beside a loud kick: the multi-band part.

Frame k of the envelope stands for the time k / FRAME_RATE_HZ seconds (the analysis window is centred
there). Peaks are refined between frames by a parabola through the three frames around the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

ANALYSIS_RATE_HZ = 16_000  # what models.audio.loading gives by default
HOP_SAMPLES = 64
FRAME_RATE_HZ = ANALYSIS_RATE_HZ / HOP_SAMPLES  # 250 frames per second: one frame every 4 ms
FRAME_MS = 1000.0 / FRAME_RATE_HZ
WINDOW_SAMPLES = 1024  # 64 ms: long enough to resolve the bass bands
BANDS_PER_OCTAVE = 24
LOWEST_BAND_HZ, HIGHEST_BAND_HZ = 30.0, 7_500.0
MAX_FILTER_BANDS = 3  # the vibrato-suppressing maximum filter, across frequency
LAG_FRAMES = 4  # compare with the frame 16 ms earlier: windows a quarter apart still differ clearly
MAGNITUDE_GAIN = 100.0  # log(1 + gain * |X|): compresses loudness, keeps quiet onsets
REGION_EDGES_HZ = (200.0, 2_000.0)  # bass | body | air
PEAK_SPAN_MS = 30.0  # a peak is the largest value within this distance either side
PEAK_MEAN_SPAN_MS = 120.0  # ... and above the mean of this span either side
PEAK_THRESHOLD = 0.05  # ... by this share of the song's typical (95th percentile) envelope


@dataclass(frozen=True)
class Onsets:
    """Onset peaks of a song: times (ms, ascending) and strengths (comparable across the song)."""

    times_ms: np.ndarray
    strengths: np.ndarray

    def __len__(self) -> int:
        return len(self.times_ms)


def onset_envelope(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The onset strength per frame (FRAME_RATE_HZ frames per second), >= 0, float64."""
    samples = _at_analysis_rate(np.asarray(samples, dtype=np.float64), sample_rate)
    frames = _frames(samples)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(WINDOW_SAMPLES), axis=1))
    filterbank, centres_hz = _log_filterbank()
    bands = np.log1p(MAGNITUDE_GAIN * spectrum @ filterbank)
    earlier = maximum_filter1d(bands, MAX_FILTER_BANDS, axis=1)
    rises = np.zeros_like(bands)
    rises[LAG_FRAMES:] = np.maximum(bands[LAG_FRAMES:] - earlier[:-LAG_FRAMES], 0.0)
    region = np.searchsorted(REGION_EDGES_HZ, centres_hz)
    envelope = np.zeros(len(bands))
    for index in range(len(REGION_EDGES_HZ) + 1):
        flux = rises[:, region == index].sum(axis=1)
        scale = np.percentile(flux, 95) if flux.any() else 0.0
        if scale > 0:
            envelope += flux / scale
    return envelope


def onset_peaks(envelope: np.ndarray) -> Onsets:
    """The envelope's local maxima that stand out of their surroundings, refined between frames."""
    if len(envelope) < 3 or not envelope.any():
        return Onsets(np.zeros(0), np.zeros(0))
    span = int(round(PEAK_SPAN_MS / FRAME_MS))
    local_max = maximum_filter1d(envelope, 2 * span + 1)
    local_mean = uniform_filter1d(envelope, 2 * int(round(PEAK_MEAN_SPAN_MS / FRAME_MS)) + 1)
    threshold = PEAK_THRESHOLD * np.percentile(envelope, 95)
    index = np.flatnonzero((envelope == local_max) & (envelope > local_mean + threshold))
    index = index[(index > 0) & (index < len(envelope) - 1)]
    # keep the first frame of a flat top only
    index = index[np.concatenate([[True], np.diff(index) > span])] if len(index) else index
    left, centre, right = envelope[index - 1], envelope[index], envelope[index + 1]
    curvature = left - 2 * centre + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    times = (index + np.clip(shift, -0.5, 0.5)) * FRAME_MS
    return Onsets(times_ms=times, strengths=centre - local_mean[index])


def detect_onsets(samples: np.ndarray, sample_rate: int) -> Onsets:
    return onset_peaks(onset_envelope(samples, sample_rate))


def _at_analysis_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == ANALYSIS_RATE_HZ:
        return samples
    from scipy.signal import resample_poly

    divisor = np.gcd(int(sample_rate), ANALYSIS_RATE_HZ)
    return resample_poly(samples, ANALYSIS_RATE_HZ // divisor, int(sample_rate) // divisor)


def _frames(samples: np.ndarray) -> np.ndarray:
    """Windows centred on k * HOP_SAMPLES (zero padding at both ends), one per hop of the song."""
    half = WINDOW_SAMPLES // 2
    padded = np.pad(samples, (half, half + HOP_SAMPLES))
    count = max(1, int(np.ceil(len(samples) / HOP_SAMPLES)))
    return np.lib.stride_tricks.sliding_window_view(padded, WINDOW_SAMPLES)[::HOP_SAMPLES][:count]


def _log_filterbank() -> tuple[np.ndarray, np.ndarray]:
    """Triangular bands, BANDS_PER_OCTAVE per octave, as a [fft bins, bands] matrix, and their centres (Hz).

    Bands narrower than an FFT bin at the bottom would repeat the same bin: they are merged."""
    bin_hz = ANALYSIS_RATE_HZ / WINDOW_SAMPLES
    octaves = np.log2(HIGHEST_BAND_HZ / LOWEST_BAND_HZ)
    edges_hz = LOWEST_BAND_HZ * 2.0 ** (np.arange(int(octaves * BANDS_PER_OCTAVE) + 3) / BANDS_PER_OCTAVE)
    edges = np.unique(np.round(edges_hz / bin_hz).astype(int))
    bank = np.zeros((WINDOW_SAMPLES // 2 + 1, len(edges) - 2))
    for band, (low, centre, high) in enumerate(zip(edges, edges[1:], edges[2:])):
        bank[low:centre + 1, band] = np.linspace(0.0, 1.0, centre - low + 1)
        bank[centre:high + 1, band] = np.linspace(1.0, 0.0, high - centre + 1)
    return bank, edges[1:-1] * bin_hz
