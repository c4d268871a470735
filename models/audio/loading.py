"""Audio loading: any common file to mono float32 at 16 kHz, peak-normalised, as the published models saw it.

The original prepared its training audio with pydub on top of ffmpeg. What that does, step by step:
1. decode to integers whose width depends on the codec: 16 bits for mp3 and plain 16-bit PCM, 32 bits for
   Vorbis, Opus, float and 24/32-bit sources (24-bit WAV keeps its 24-bit value range, read into 32 bits),
   8 bits for 8-bit PCM; float decoder output is scaled by 2^(bits-1), rounded and clipped;
2. relabel the sample rate for a speed change (DT augmentation), int(rate * speed);
3. resample all channels together with audioop's linear-interpolation `ratecv`;
4. mix to mono: two channels as half of each, summed and clipped (`audioop.tomono`), more channels as the
   sum of each channel floor-divided by the channel count;
5. convert to float32 and divide by the peak of the whole song.
Here libsndfile decodes (to float, so the rounding and clipping of step 1 are ours and done like ffmpeg's:
libsndfile's own float-to-int conversion wraps Vorbis overshoots past full scale round to the other sign)
and steps 2-5 use the same integer arithmetic. Measured against that pipeline run with ffmpeg on the corpus:
identical lengths and alignment; Vorbis within 4e-7, mp3 within one 16-bit step (the two mp3 decoders round
differently), WAV bit-exact (tests/test_audio.py).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenization.errors import AudioError, MapperInputError

if sys.version_info >= (3, 13):  # audioop left the standard library; audioop-lts provides the same module
    import audioop  # type: ignore[import-not-found]  # pragma: no cover
else:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

SAMPLE_RATE_HZ = 16_000  # every published model works at 16 kHz
MAX_SONG_SECONDS = 4 * 3600  # longer files are refused: a whole 4-hour song is 0.9 GB of samples at 16 kHz
BLOCK_FRAMES = 1 << 20  # decoded at a time (24 s at 44.1 kHz): memory follows what is kept, not the file
MS_PER_SECOND = 1000.0

# How libsndfile's subtypes map onto the integers the original's decoder produced (see step 1 above).
_BYTE_SUBTYPES = frozenset({"PCM_S8", "PCM_U8"})  # 8-bit integers (8-bit FLAC excepted: ffmpeg gives 16)
_WIDE_INTEGER_SUBTYPES = frozenset({"PCM_24", "PCM_32", "ALAC_20", "ALAC_24", "ALAC_32"})  # 32-bit integers
# Float sources made 32-bit integers (64-bit float made the original fail; here it is treated as 32-bit float).
_WIDE_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II"})
_MP3_SUBTYPE = "MPEG_LAYER_III"  # float decoder output made 16-bit integers; all remaining subtypes are 16-bit
_RIFF_FORMATS = frozenset({"WAV", "WAVEX"})  # pydub reads these itself, without ffmpeg


def load_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE_HZ, speed: float = 1.0,
               normalize: bool = True, until_ms: float | None = None) -> np.ndarray:
    """Mono float32 samples at `sample_rate` Hz.

    `speed` > 1 plays the song faster (shorter), by relabelling its rate before resampling, as DT does.
    With `normalize` the song's peak is scaled to ±1 (an all-silent song stays all zeros).
    With `until_ms` only the samples before that time are returned (the peak is still the whole
    song's): the file is decoded block by block, so memory follows the span kept, not the song.
    Raises AudioError (one line naming the file) for a missing, unreadable, corrupt, empty, too long
    or not-a-number file.
    """
    return load_song(path, sample_rate=sample_rate, speed=speed, normalize=normalize, until_ms=until_ms).samples


@dataclass(frozen=True)
class Song:
    samples: np.ndarray  # mono float32, maybe only the first part of the song (see `until_ms`)
    duration_ms: float  # of the whole song, as audio_duration_ms of all its samples would give


def load_song(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE_HZ, speed: float = 1.0,
              normalize: bool = True, until_ms: float | None = None) -> Song:
    """`load_audio`, with the whole song's length beside the samples kept."""
    if sample_rate <= 0 or not speed > 0:
        raise MapperInputError(f"sample rate and speed must be positive (got {sample_rate} Hz, speed {speed})")
    path = Path(path)
    keep = None if until_ms is None else max(0, int(math.ceil(until_ms / MS_PER_SECOND * sample_rate)))
    parts, total, peak = [], 0, np.float32(0)
    for block in _decoded_blocks(path, speed, sample_rate):
        mono = block.astype(np.float32)
        if mono.size:
            peak = max(peak, np.max(np.abs(mono)))
        if keep is None or total < keep:
            parts.append(mono if keep is None else mono[:keep - total])
        total += len(mono)
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if normalize and peak > 0:
        samples /= peak
    return Song(samples, total / sample_rate * MS_PER_SECOND)


def audio_duration_ms(samples: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> float:
    """Song length in milliseconds of loaded samples (what SONG_LENGTH and song position are measured by)."""
    return len(samples) / sample_rate * MS_PER_SECOND


def _decoded_blocks(path: Path, speed: float, sample_rate: int) -> Iterator[np.ndarray]:
    """The song as mono integers at `sample_rate`, block by block: decoded, made integers, resampled
    (carrying audioop's state from block to block, which gives the same samples as one call) and mixed."""
    import soundfile

    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:  # libsndfile would guess at "a pipe"
        raise AudioError(f"{path}: the audio file is empty")
    with _decoding(path):
        with quiet_native_stderr():
            source = soundfile.SoundFile(str(path))
    with source:
        rate = int(source.samplerate)
        if rate <= 0:
            raise AudioError(f"{path}: the audio holds no samples")
        if source.frames / rate > MAX_SONG_SECONDS:
            raise AudioError(f"{path}: the audio is {source.frames / rate / 3600:.1f} hours long; mapper reads "
                             f"songs of up to {MAX_SONG_SECONDS / 3600:g} hours")
        layout = _integer_layout(source.format, source.subtype)
        source_rate = int(rate * speed)
        if source_rate <= 0:
            raise MapperInputError(f"speed {speed} is too small for {path}")
        state, seen = None, 0
        while True:
            with _decoding(path), quiet_native_stderr():  # the mp3 decoder notes bad frames on fd 2
                frames = source.read(BLOCK_FRAMES, dtype=layout.read_dtype, always_2d=True)
            if not len(frames):
                break
            seen += len(frames)
            if layout.full_scale and not np.isfinite(frames).all():
                bad = int(np.count_nonzero(~np.isfinite(frames)))
                raise AudioError(f"{path}: the audio holds {bad} sample(s) that are not numbers (NaN or "
                                 f"infinite) near {seen / rate:.1f} s; re-export it")
            integers = layout.to_integers(frames)
            if source_rate != sample_rate:
                integers, state = _resample_block(integers, layout.width, source_rate, sample_rate, state)
            yield _to_mono(integers, layout.width)
        if seen == 0:
            raise AudioError(f"{path}: the audio holds no samples")


@contextlib.contextmanager
def _decoding(path: Path) -> Iterator[None]:
    try:
        yield
    except AudioError:
        raise
    except Exception as error:  # noqa: BLE001 - libsndfile raises several types for bad data
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "possibly a pipe" in reason or "Format not recognised" in reason:  # libsndfile on a text file
            raise AudioError(f"{path}: cannot decode audio: not a decodable audio file (no format libsndfile reads)") from None
        reason = reason.replace(f"'{path}'", "the file")  # its messages repeat the path
        raise AudioError(f"{path}: cannot decode audio ({reason})") from None


@dataclass(frozen=True)
class _IntegerLayout:
    """How one source becomes pydub's integers: what to read from libsndfile and how to scale it."""

    width: int  # bytes per sample pydub works with
    read_dtype: str  # what libsndfile hands over
    shift: int = 0  # right shift of integers read (8-bit and 24-bit PCM arrive scaled up)
    full_scale: float = 0.0  # for float reads: the integer that 1.0 maps to

    def to_integers(self, frames: np.ndarray) -> np.ndarray:
        dtype = {1: np.int8, 2: np.int16, 4: np.int32}[self.width]
        if self.full_scale:
            return _quantize(frames, self.full_scale, dtype)
        if self.shift:
            frames = frames >> self.shift
        return frames.astype(dtype, copy=False)


def _integer_layout(container: str, subtype: str) -> _IntegerLayout:
    if subtype in _BYTE_SUBTYPES and container != "FLAC":
        return _IntegerLayout(width=1, read_dtype="int16", shift=8)  # libsndfile hands them over as v << 8
    if subtype in _WIDE_INTEGER_SUBTYPES:  # pydub's own WAV reader keeps 24-bit values in their 24-bit range
        riff_24 = subtype == "PCM_24" and container in _RIFF_FORMATS
        return _IntegerLayout(width=4, read_dtype="int32", shift=8 if riff_24 else 0)
    if subtype in _WIDE_FLOAT_SUBTYPES:
        return _IntegerLayout(width=4, read_dtype="float64" if subtype == "DOUBLE" else "float32",
                              full_scale=2.0**31)
    if subtype == _MP3_SUBTYPE:
        return _IntegerLayout(width=2, read_dtype="float32", full_scale=2.0**15)
    return _IntegerLayout(width=2, read_dtype="int16")  # 16-bit PCM, A-law, ADPCM...: libsndfile's shorts


def _quantize(frames: np.ndarray, full_scale: float, dtype: type) -> np.ndarray:
    """Float decoder output to integers as ffmpeg converts it: scale, round half to even, clip."""
    scaled = np.multiply(frames, frames.dtype.type(full_scale), out=frames)  # in place: songs are large
    np.rint(scaled, out=scaled)
    info = np.iinfo(dtype)
    # Clip below the top of the range where the float type cannot hold it (2^31 - 1 is no float32),
    # then put the positive overflow at the integer maximum.
    top = np.nextafter(scaled.dtype.type(info.max + 1), scaled.dtype.type(0))
    over = scaled > top
    integers = np.clip(scaled, info.min, top).astype(dtype)
    integers[over] = info.max
    return integers


@contextlib.contextmanager
def quiet_native_stderr():
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


def _resample_block(frames: np.ndarray, width: int, source_rate: int, target_rate: int, state):
    """Linear-interpolation rate conversion of all channels together (audioop.ratecv), one block of a
    stream: `state` carries the interpolation over from the block before."""
    channels = frames.shape[1]
    converted, state = audioop.ratecv(np.ascontiguousarray(frames).tobytes(), width, channels, source_rate,
                                      target_rate, state)
    return np.frombuffer(converted, dtype=frames.dtype).reshape(-1, channels), state


def _to_mono(frames: np.ndarray, width: int) -> np.ndarray:
    channels = frames.shape[1]
    if channels == 1:
        return frames[:, 0]
    if channels == 2:  # half of each channel, summed, truncated and clipped as integers
        mixed = audioop.tomono(np.ascontiguousarray(frames).tobytes(), width, 0.5, 0.5)
        return np.frombuffer(mixed, dtype=frames.dtype)
    # More channels: each floor-divided by the channel count, then summed (cannot overflow).
    return (frames.astype(np.int64) // channels).sum(axis=1).astype(frames.dtype)
