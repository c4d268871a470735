"""Audio loading reproduces the original's samples; every corpus song loads; bad files fail in one line.

The original decoded with pydub + ffmpeg. There is no ffmpeg here, so tests/data/audio_reference.json holds
what that pipeline (run once with ffmpeg, see tests/data/make_audio_reference.py) gave for corpus songs and
for the synthetic files made below: lossless ones must match bit for bit, lossy ones within what two
different decoders of the same stream differ by.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.audio.loading import SAMPLE_RATE_HZ, audio_duration_ms, load_audio
from tests.conftest import CORPUS, corpus_manifest, require_shared
from tokenization.errors import AudioError, MapperInputError

REFERENCE_FILE = Path(__file__).parent / "data" / "audio_reference.json"
SYNTHETIC_RATE_HZ = 44_100
# Measured against the ffmpeg pipeline: Vorbis within 3.6e-7, mp3 within 3.2e-5 (one 16-bit step).
LOSSY_TOLERANCE = {".ogg": 2e-6, ".mp3": 8e-5}


@functools.cache
def reference() -> dict:
    return json.loads(REFERENCE_FILE.read_text())


def synthetic_sources() -> dict[str, tuple[str, str, np.ndarray, int]]:
    """name -> (extension, libsndfile subtype, data, rate): integer-built signals, identical on any machine."""
    n = np.arange(int(1.5 * SYNTHETIC_RATE_HZ), dtype=np.int64)
    square = ((n // 50) % 2 * 2 - 1) * 12_000
    noise = ((n * 1_103_515_245 + 12_345) % 65_536 - 32_768) // 4
    left = (square + noise).astype(np.int16)
    right = (noise[::-1] - square // 2).astype(np.int16)
    stereo16 = np.stack([left, right], axis=1)
    low_bits = ((n * 2_654_435_761) % 65_536).astype(np.int32)
    stereo32 = (stereo16.astype(np.int32) << 16) | low_bits[:, None]  # uses all 32 bits
    overshooting = stereo16.astype(np.float32) / 32_768 * 1.25  # exact in float32; clipped on loading
    quad = np.stack([left, right, -left, right // 3], axis=1)
    return {
        "wav_u8": ("wav", "PCM_U8", stereo16, SYNTHETIC_RATE_HZ),
        "wav_16": ("wav", "PCM_16", stereo16, SYNTHETIC_RATE_HZ),
        "wav_16_mono_22k": ("wav", "PCM_16", left[:, None], 22_050),
        "wav_16_48k": ("wav", "PCM_16", stereo16, 48_000),
        "wav_24": ("wav", "PCM_24", stereo32, SYNTHETIC_RATE_HZ),
        "wav_32": ("wav", "PCM_32", stereo32, SYNTHETIC_RATE_HZ),
        "wav_float": ("wav", "FLOAT", overshooting, SYNTHETIC_RATE_HZ),
        "wav_16_four_channels": ("wav", "PCM_16", quad, SYNTHETIC_RATE_HZ),
        "flac_16": ("flac", "PCM_16", stereo16, SYNTHETIC_RATE_HZ),
        "flac_24": ("flac", "PCM_24", stereo32, SYNTHETIC_RATE_HZ),
        "aiff_16": ("aiff", "PCM_16", stereo16, SYNTHETIC_RATE_HZ),
    }


def write_synthetic(name: str, folder: Path) -> Path:
    import soundfile

    ext, subtype, data, rate = synthetic_sources()[name]
    path = folder / f"{name}.{ext}"
    soundfile.write(path, data, rate, subtype=subtype)
    return path


def fingerprint(samples: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(samples, dtype="<f4").tobytes()).hexdigest()


def test_click_track_matches_the_original_exactly():
    wav = require_shared("fixtures", "audio", "click120.wav")
    ours = load_audio(wav)
    for version in ("v29", "v30", "v31", "v32"):
        reference = np.load(require_shared("fixtures", f"ref-outputs-{version}", "audio_loaded_16k.npy"))
        assert ours.dtype == np.float32 and ours.shape == reference.shape
        assert np.array_equal(ours, reference)  # measured: bit-exact
    assert audio_duration_ms(ours) == 20_000.0  # the fixtures' song_length_ms


@pytest.mark.parametrize("name", sorted(synthetic_sources()))
def test_lossless_files_match_the_original_bit_for_bit(tmp_path, name):
    expected = reference()["synthetic"][name]
    samples = load_audio(write_synthetic(name, tmp_path))
    assert len(samples) == expected["length"]
    assert fingerprint(samples) == expected["sha256"], f"sum |x| {np.abs(samples).sum(dtype=np.float64)} " \
                                                       f"vs {expected['abs_sum']}"


def test_speed_change_relabels_the_rate_before_resampling(tmp_path):
    expected = reference()["synthetic_speed_1.5"]
    samples = load_audio(write_synthetic(expected["source"], tmp_path), speed=1.5)
    assert len(samples) == expected["length"]
    assert fingerprint(samples) == expected["sha256"]


@pytest.mark.parametrize("song", sorted(reference()["corpus"]) if REFERENCE_FILE.exists() else [])
def test_lossy_corpus_songs_match_the_original_decoder(song):
    expected = reference()["corpus"][song]
    samples = load_audio(require_shared("corpus", song))
    assert len(samples) == expected["length"]  # same start and end: no timing offset
    tolerance = LOSSY_TOLERANCE[Path(song).suffix]
    for start, values in expected["slices"].items():
        ours = samples[int(start):int(start) + len(values)]
        assert np.max(np.abs(ours - np.asarray(values, dtype=np.float32))) <= tolerance, f"slice at {start}"
    assert np.abs(samples).sum(dtype=np.float64) == pytest.approx(expected["abs_sum"], rel=1e-4)


def test_vorbis_overshoot_is_clipped_not_wrapped(tmp_path):
    """Vorbis decodes past full scale; turned into integers those samples must clip, not flip sign."""
    import soundfile

    t = np.arange(SYNTHETIC_RATE_HZ) / SYNTHETIC_RATE_HZ
    loud = (1.6 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    path = tmp_path / "loud.ogg"
    soundfile.write(path, np.stack([loud, loud], axis=1), SYNTHETIC_RATE_HZ)
    samples = load_audio(path)
    expected = np.clip(1.6 * np.sin(2 * np.pi * 110 * np.arange(len(samples)) / SAMPLE_RATE_HZ), -1, 1)
    middle = slice(1000, len(samples) - 1000)  # away from the codec's edges
    assert np.max(np.abs(samples[middle] - expected[middle])) < 0.1


def test_every_corpus_song_loads():
    manifest = corpus_manifest()
    songs = sorted({entry["audio"] for entry in manifest["entries"] if entry.get("audio")})
    assert songs, "the manifest lists no audio"
    failures = []
    for song in songs:
        try:
            samples = load_audio(CORPUS / song)
        except AudioError as error:
            failures.append(str(error))
            continue
        peak = float(np.max(np.abs(samples))) if samples.size else -1.0
        if not (samples.size and np.isfinite(samples).all() and peak in (0.0, 1.0)):
            failures.append(f"{song}: bad samples ({samples.size} samples, peak {peak})")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"\xff\xfb" + b"\x00" * 20, b"hello",
                                     b"OggS" + bytes(100), b"fLaC" + bytes(40)])
def test_corrupt_audio_is_one_clear_error(tmp_path, content):
    path = tmp_path / "broken.mp3"
    path.write_bytes(content)
    with pytest.raises(AudioError) as error:
        load_audio(path)
    assert "broken.mp3" in str(error.value) and "\n" not in str(error.value)


def test_file_without_samples(tmp_path):
    import soundfile

    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros((0, 2), dtype=np.int16), 44_100)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.ogg")
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


def test_bad_speed(tmp_path):
    with pytest.raises(MapperInputError, match="positive"):
        load_audio(write_synthetic("wav_16", tmp_path), speed=0)


def test_silence_stays_silent(tmp_path):
    import soundfile

    path = tmp_path / "silence.flac"
    soundfile.write(path, np.zeros(44_100, dtype=np.int16), 44_100)
    samples = load_audio(path)
    assert len(samples) == SAMPLE_RATE_HZ and not samples.any()


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_formats_load_at_16k_with_unit_peak(tmp_path, ext):
    import soundfile

    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100)).astype(np.float32)
    path = tmp_path / f"tone.{ext}"
    soundfile.write(path, np.stack([tone, tone], axis=1), 44_100)
    samples = load_audio(path)
    assert samples.dtype == np.float32
    assert abs(len(samples) - SAMPLE_RATE_HZ) < 1200, ext  # codecs may pad a little
    assert np.max(np.abs(samples)) == 1.0
