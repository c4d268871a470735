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
import os
import sys
import warnings
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
MS_PER_SECOND = 1000.0

# How libsndfile's subtypes map onto the integers the original's decoder produced (see step 1 above).
_BYTE_SUBTYPES = frozenset({"PCM_S8", "PCM_U8"})  # 8-bit integers (8-bit FLAC excepted: ffmpeg gives 16)
_WIDE_INTEGER_SUBTYPES = frozenset({"PCM_24", "PCM_32", "ALAC_20", "ALAC_24", "ALAC_32"})  # 32-bit integers
# Float sources made 32-bit integers (64-bit float made the original fail; here it is treated as 32-bit float).
_WIDE_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II"})
_MP3_SUBTYPE = "MPEG_LAYER_III"  # float decoder output made 16-bit integers; all remaining subtypes are 16-bit
_RIFF_FORMATS = frozenset({"WAV", "WAVEX"})  # pydub reads these itself, without ffmpeg


@dataclass(frozen=True)
class _IntegerAudio:
    """Decoded audio as the integers pydub holds: [frames, channels], `width` bytes per sample."""

    frames: np.ndarray
    width: int  # bytes per sample: 1, 2 or 4
    rate_hz: int


def load_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE_HZ, speed: float = 1.0,
               normalize: bool = True) -> np.ndarray:
    """Mono float32 samples at `sample_rate` Hz.

    `speed` > 1 plays the song faster (shorter), by relabelling its rate before resampling, as DT does.
    With `normalize` the song's peak is scaled to ±1 (an all-silent song stays all zeros).
    Raises AudioError (one line naming the file) for a missing, unreadable, corrupt or empty file.
    """
    if sample_rate <= 0 or not speed > 0:
        raise MapperInputError(f"sample rate and speed must be positive (got {sample_rate} Hz, speed {speed})")
    decoded = _decode(Path(path))
    source_rate = int(decoded.rate_hz * speed)
    if source_rate <= 0:
        raise MapperInputError(f"speed {speed} is too small for {path}")
    resampled = _resample(decoded.frames, decoded.width, source_rate, sample_rate)
    samples = _to_mono(resampled, decoded.width).astype(np.float32)
    if normalize:
        peak = np.max(np.abs(samples)) if samples.size else np.float32(0)
        if peak > 0:
            samples /= peak
    return samples


def audio_duration_ms(samples: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> float:
    """Song length in milliseconds of loaded samples (what SONG_LENGTH and song position are measured by)."""
    return len(samples) / sample_rate * MS_PER_SECOND


def _decode(path: Path) -> _IntegerAudio:
    import soundfile

    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:  # libsndfile would guess at "a pipe"
        raise AudioError(f"{path}: the audio file is empty")
    try:
        with quiet_native_stderr(), soundfile.SoundFile(str(path)) as source:  # mp3 decoder notes bad frames
            layout = _integer_layout(source.format, source.subtype)
            frames = source.read(dtype=layout.read_dtype, always_2d=True)
            rate = int(source.samplerate)
    except Exception as error:  # noqa: BLE001 - libsndfile raises several types for bad data
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        reason = reason.replace(f"'{path}'", "the file")  # its messages repeat the path
        raise AudioError(f"{path}: cannot decode audio ({reason})") from None
    if frames.size == 0 or rate <= 0:
        raise AudioError(f"{path}: the audio holds no samples")
    return _IntegerAudio(layout.to_integers(frames), layout.width, rate)


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


def _resample(frames: np.ndarray, width: int, source_rate: int, target_rate: int) -> np.ndarray:
    """Linear-interpolation rate conversion of all channels together (audioop.ratecv, one call, no state)."""
    if source_rate == target_rate:
        return frames
    channels = frames.shape[1]
    converted, _ = audioop.ratecv(np.ascontiguousarray(frames).tobytes(), width, channels, source_rate,
                                  target_rate, None)
    return np.frombuffer(converted, dtype=frames.dtype).reshape(-1, channels)


def _to_mono(frames: np.ndarray, width: int) -> np.ndarray:
    channels = frames.shape[1]
    if channels == 1:
        return frames[:, 0]
    if channels == 2:  # half of each channel, summed, truncated and clipped as integers
        mixed = audioop.tomono(np.ascontiguousarray(frames).tobytes(), width, 0.5, 0.5)
        return np.frombuffer(mixed, dtype=frames.dtype)
    # More channels: each floor-divided by the channel count, then summed (cannot overflow).
    return (frames.astype(np.int64) // channels).sum(axis=1).astype(frames.dtype)
