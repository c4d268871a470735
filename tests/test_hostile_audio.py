"""Issue #25, class 5: audio a hostile user gives. A long song mapped for a few seconds is decoded
block by block and only the span needed is kept; songs beyond a documented length are refused in one
line; NaN or infinite samples are refused; a text file named .mp3 is called what it is."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import soundfile

from models.audio import loading
from models.audio.loading import load_audio
from tokenization.errors import AudioError


def test_a_span_of_a_long_song_is_decoded_in_bounded_memory(tmp_path):
    from models.audio.loading import load_song

    path = tmp_path / "long.wav"  # 10 minutes at 44.1 kHz: 53 MB of 16-bit samples, 106 MB as float32
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", samplerate=44100, channels=1, subtype="PCM_16") as out:
        for _ in range(10):
            out.write(rng.integers(-3000, 3000, 44100 * 60).astype(np.int16))
    whole = load_audio(path)
    tracemalloc.start()
    try:
        span = load_song(path, until_ms=5000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 2**20, f"{peak / 2**20:.0f} MB"  # blocks of 2^20 frames, not the song
    assert len(span.samples) == 5 * 16000 and np.array_equal(span.samples, whole[:len(span.samples)])
    assert span.duration_ms == len(whole) / 16000 * 1000  # the whole song's length, and its peak, are kept


def test_songs_beyond_the_length_limit_are_refused_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "song.wav"
    soundfile.write(path, np.zeros(16000 * 3, dtype=np.float32), 16000)
    monkeypatch.setattr(loading, "MAX_SONG_SECONDS", 2)
    with pytest.raises(AudioError, match=r"hours long; mapper reads songs of up to") as error:
        load_audio(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_samples_that_are_not_numbers_are_refused(tmp_path, bad):
    samples = np.full(16000, 0.25, dtype=np.float32)
    samples[8000] = bad
    path = tmp_path / "song.wav"
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="not numbers"):
        load_audio(path)


def test_a_text_file_named_mp3_is_not_a_decodable_audio_file(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_text("these are lyrics, not audio\n" * 20)
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "info", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"mapper: error: {path}: cannot decode audio: not a decodable audio file (no format libsndfile reads)\n"
