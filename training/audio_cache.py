"""Decoded songs kept on disk, so training decodes each song once, not once per epoch and worker.

A song is decoded by `models.audio.loading.load_audio` (mono, peak-normalised, at the profile's rate) and
saved as a float32 `.npy` in the cache folder, named by the audio file's path, size and
modification time (an edited song is decoded again). Later reads memory-map the file: the page
cache shares one copy among all DataLoader workers. Writes go to a temporary name and are renamed
into place, so two workers decoding the same song at once, or a run killed mid-write, never leave
a torn file.

DT/speed augmentation is made from the cached samples: the song is relabelled as played at
`rate * speed` and linearly resampled back to `rate`, as the original does from the decoded file
(there from the source rate, here from 16 kHz: the same augmentation, not bit-identical samples).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

CACHE_DIR_NAME = ".audio-cache"  # inside a dataset folder; dot-named, so dataset build/check ignore it


class AudioCache:
    def __init__(self, folder: Path | None, sample_rate: int):
        """`folder` None (or not writable) decodes every time, as before the cache existed."""
        self.sample_rate = sample_rate
        self.folder = _usable(folder / str(sample_rate)) if folder is not None else None

    def samples(self, path: Path, speed: float = 1.0) -> np.ndarray:
        """The song's samples at this cache's rate, played `speed` times faster."""
        samples = self._load(Path(path))
        return samples if speed == 1.0 else change_speed(samples, speed, self.sample_rate)

    def _load(self, path: Path) -> np.ndarray:
        from models.audio.loading import load_audio

        if self.folder is None:
            return load_audio(path, sample_rate=self.sample_rate)
        try:
            target = self.folder / f"{_key(path, self.sample_rate)}.npy"
        except OSError:  # missing or unreadable: load_audio says so in one line
            return load_audio(path, sample_rate=self.sample_rate)
        if target.exists():
            try:
                return np.load(target, mmap_mode="r")
            except (OSError, ValueError):  # a foreign or damaged file: decode again and replace it
                pass
        samples = load_audio(path, sample_rate=self.sample_rate)
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.partial")
        try:
            with open(tmp, "wb") as handle:
                np.save(handle, samples)
            tmp.replace(target)
        except OSError as exc:  # a full disk must not end a run; the song is simply not cached
            tmp.unlink(missing_ok=True)
            print(f"audio cache: cannot write {target.name} ({exc})", file=sys.stderr)
        return samples


def change_speed(samples: np.ndarray, speed: float, sample_rate: int) -> np.ndarray:
    """`samples` played `speed` times faster (shorter, higher), peak-normalised again."""
    source_rate = int(sample_rate * speed)  # the relabelled rate, truncated as the original does
    if source_rate == sample_rate or len(samples) < 2:
        return np.asarray(samples, dtype=np.float32)
    length = (len(samples) - 1) * sample_rate // source_rate + 1
    positions = np.arange(length, dtype=np.float64) * (source_rate / sample_rate)
    out = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    peak = np.max(np.abs(out))
    if peak > 0:
        out /= peak
    return out


def _key(path: Path, sample_rate: int) -> str:
    stat = path.stat()
    text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{sample_rate}"
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def _usable(folder: Path) -> Path | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None
