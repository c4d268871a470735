"""Audio loading: any common file to mono float32 at 16 kHz, peak-normalised.

The published models were trained on audio prepared a particular way: decoded to 16-bit
integers, resampled with a linear-interpolation rate converter on the interleaved channels,
averaged to mono, then divided by the song's peak. Doing the same steps here reproduces the
original's samples exactly (see tests/test_audio.py), so the spectrograms the model sees match
what it was trained on.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from tokenization.errors import AudioError

SAMPLE_RATE_HZ = 16_000  # every published model works at 16 kHz
SAMPLE_WIDTH_BYTES = 2  # decoded as 16-bit integers, as the original's decoder does
AUDIO_EXTENSIONS = (".mp3", ".ogg", ".wav", ".flac", ".oga", ".opus", ".aiff", ".aif")

if sys.version_info >= (3, 13):  # audioop left the standard library; audioop-lts provides it
    import audioop  # type: ignore[import-not-found]  # pragma: no cover
else:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop


def load_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE_HZ, speed: float = 1.0,
               normalize: bool = True) -> np.ndarray:
    """Mono float32 samples at `sample_rate`; `speed` > 1 plays faster (relabels the rate, as DT does)."""
    frames, source_rate = _decode_int16(Path(path))
    channels = frames.shape[1]
    source_rate = int(source_rate * speed)
    resampled = _resample_interleaved(frames, channels, source_rate, sample_rate)
    mono = _to_mono(resampled, channels)
    samples = mono.astype(np.float32)
    if normalize:
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        if peak > 0:
            samples = samples / np.float32(peak)
    return samples


def audio_duration_ms(samples: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> float:
    return len(samples) / sample_rate * 1000.0


def _decode_int16(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    try:
        with _quiet_native_stderr():  # the mp3 decoder prints notes about bad frames itself
            frames, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    except Exception:  # noqa: BLE001 - libsndfile raises several types for bad data
        raise AudioError(f"{path}: cannot decode audio (unsupported format or corrupt data)") from None
    if frames.size == 0 or rate <= 0:
        raise AudioError(f"{path}: the audio holds no samples")
    return frames, int(rate)


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what C libraries write straight to file descriptor 2, for the duration of a call."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _resample_interleaved(frames: np.ndarray, channels: int, source_rate: int, target_rate: int) -> np.ndarray:
    """Linear-interpolation rate conversion of all channels together (audioop.ratecv)."""
    if source_rate == target_rate:
        return frames
    data = np.ascontiguousarray(frames, dtype="<i2").tobytes()
    converted, _ = audioop.ratecv(data, SAMPLE_WIDTH_BYTES, channels, source_rate, target_rate, None)
    return np.frombuffer(converted, dtype="<i2").reshape(-1, channels)


def _to_mono(frames: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return frames[:, 0]
    if channels == 2:  # half of each channel, summed and truncated as 16-bit integers
        data = np.ascontiguousarray(frames, dtype="<i2").tobytes()
        return np.frombuffer(audioop.tomono(data, SAMPLE_WIDTH_BYTES, 0.5, 0.5), dtype="<i2")
    return frames.astype(np.float64).mean(axis=1).astype(np.int16)
