"""Audio loading matches the original's samples; every corpus song loads; bad files fail in one line."""

from __future__ import annotations

import numpy as np
import pytest

from models.audio import SAMPLE_RATE_HZ, load_audio
from tests.conftest import CORPUS, corpus_manifest, require_shared
from tokenization.errors import AudioError


def test_click_track_matches_the_original_exactly():
    wav = require_shared("fixtures", "audio", "click120.wav")
    reference = np.load(require_shared("fixtures", "ref-outputs-v29", "audio_loaded_16k.npy"))
    ours = load_audio(wav)
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert float(np.max(np.abs(ours - reference))) == 0.0  # measured: bit-exact


def test_speed_change_shortens_audio():
    wav = require_shared("fixtures", "audio", "click120.wav")
    assert len(load_audio(wav, speed=1.5)) == pytest.approx(len(load_audio(wav)) / 1.5, abs=2)


def test_every_corpus_song_loads():
    manifest = corpus_manifest()
    songs = sorted({entry["audio"] for entry in manifest["entries"] if entry.get("audio")})
    assert songs, "the manifest lists no audio"
    failures = []
    for song in songs:
        try:
            samples = load_audio(CORPUS / song)
            peak = float(np.max(np.abs(samples))) if samples.size else -1.0
            if not (samples.size and np.isfinite(samples).all() and (peak == pytest.approx(1.0) or peak == 0.0)):
                failures.append(f"{song}: bad samples")
        except AudioError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"\xff\xfb" + b"\x00" * 20, b"hello"])
def test_corrupt_audio_is_one_clear_error(tmp_path, content):
    path = tmp_path / "broken.mp3"
    path.write_bytes(content)
    with pytest.raises(AudioError) as error:
        load_audio(path)
    assert "broken.mp3" in str(error.value) and "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.ogg")


def test_formats_round_trip_through_soundfile(tmp_path):
    import soundfile

    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)).astype(np.float32)
    for ext in ("wav", "flac", "ogg", "mp3"):
        path = tmp_path / f"tone.{ext}"
        soundfile.write(path, np.stack([tone, tone], axis=1), 44100)
        samples = load_audio(path)
        assert abs(len(samples) - SAMPLE_RATE_HZ) < 1200, ext  # codecs may pad a little
        assert np.max(np.abs(samples)) == pytest.approx(1.0)
