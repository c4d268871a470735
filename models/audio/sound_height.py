"""High or low: which of some times in a song have a higher sound coming in than the others.

A kick, a tom or a bass note comes in low, a snare, a clap or a hi-hat high. What the spectrum gains in the
WINDOW_MS at a time over the WINDOW_MS before it is the sound that comes in there (not what was already
sounding); its share above SPLIT_HZ, against the median of that share over the times asked about, says
which half a time belongs to. Taiko colours its notes so (`models.postprocess.taiko_colours`: don low, kat
high), and its stand-in map too (`models.generation.audio_rhythm`).
"""

from __future__ import annotations

import numpy as np

SPLIT_HZ = 1500.0  # a kick's or a tom's body lies below, a snare's crack and a hi-hat above
WINDOW_MS = 40.0  # the sound at a time: its attack and a little of its body
BEFORE_MS = 10.0  # the window starts this long before the time (a note is put at or a little before the attack)


def high_sounding_times(samples: np.ndarray, sample_rate: int, times_ms: list[float], playback_delay_ms: float = 0.0) -> set[float]:
    """Those of `times_ms` (as osu! plays the song, `playback_delay_ms` later than `samples`) whose sound comes
    in higher than the median's."""
    if not times_ms:
        return set()
    highs = np.array([_high_share(samples, sample_rate, time - playback_delay_ms) for time in times_ms])
    split = float(np.median(highs))
    return {time for time, high in zip(times_ms, highs) if high > split}


def _high_share(samples: np.ndarray, sample_rate: int, time_ms: float) -> float:
    """Share above SPLIT_HZ of what the spectrum gains in the WINDOW_MS at `time_ms` over the WINDOW_MS before
    it (the new sound, not what was already sounding); 0.5 where nothing comes in."""
    length = int(round(WINDOW_MS * sample_rate / 1000.0))
    start = int(round((time_ms - BEFORE_MS) * sample_rate / 1000.0))
    if start - length < 0 or start + length > len(samples) or length < 8:
        return 0.5
    taper = np.hanning(length)
    before, after = (np.abs(np.fft.rfft(np.asarray(samples[a:a + length], dtype=np.float64) * taper)) ** 2
                     for a in (start - length, start))
    gained = np.maximum(after - before, 0.0)
    total = float(gained.sum())
    if total <= 0:
        return 0.5
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    return float(gained[frequencies >= SPLIT_HZ].sum()) / total
