"""Where a song's windows lie: fixed-length audio windows sliding by a stride (lookback and
lookahead overlap them), zero-padded at the end, and which of them a time span needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from profiles.settings import Profile


@dataclass
class Windows:
    """Window layout over a song: fixed length, sliding by a stride, zero-padded at the end."""

    samples: int  # per window
    stride: int  # samples between window starts
    starts_ms: list[int]
    audio: np.ndarray  # padded

    def frames(self, index: int) -> np.ndarray:
        start = index * self.stride
        return self.audio[start:start + self.samples]


def make_windows(audio: np.ndarray, profile: Profile, lookback: float, lookahead: float) -> Windows:
    samples = (profile.model.src_seq_len - 1) * profile.audio.hop_length
    stride = max(1, int(samples * (1 - lookback - lookahead)))
    if len(audio) <= samples:
        padded_length = samples
    else:
        extra = (len(audio) - samples) % stride
        padded_length = len(audio) + ((stride - extra) % stride)
    padded = np.zeros(padded_length, dtype=np.float32)
    padded[:len(audio)] = audio
    count = (padded_length - samples) // stride + 1
    rate = profile.audio.sample_rate
    return Windows(samples, stride, [int(i * stride * 1000 / rate) for i in range(count)], padded)


def select_windows(starts_ms: list[int], window_ms: float, start_ms: float | None, end_ms: float | None,
                   lookback: float, lookahead: float) -> list[int]:
    """Indices of the windows whose committed zone touches [start_ms, end_ms] (all when unbounded)."""
    chosen = list(range(len(starts_ms)))
    if start_ms is not None:
        chosen = [i for i in chosen if starts_ms[i] > start_ms - (1 - lookahead) * window_ms] or chosen[-1:]
    if end_ms is not None:
        chosen = [i for i in chosen if starts_ms[i] < end_ms - lookback * window_ms] or chosen[:1]
    return chosen
