"""An mp3's gap (models.audio.playback_delay): our decoder cuts it where the file's LAME tag gives it, osu! plays
it, so audio timing moves mp3 times by it. Through the public API and `mapper timing`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

RATE = 44_100
LAME_GAP_SAMPLES = 576 + 529  # LAME's encoder delay and the decoder's


def click_song(seconds: float = 24.0, bpm: float = 150.0, first_ms: float = 300.0) -> np.ndarray:
    """A kick with a hi-hat on every beat."""
    rng = np.random.default_rng(0)
    out = np.zeros(int((seconds + 1.0) * RATE))
    hit = np.arange(int(0.08 * RATE)) / RATE
    sound = np.sin(2 * np.pi * 60 * hit) * np.exp(-hit / 0.03) + rng.standard_normal(len(hit)) * np.exp(-hit / 0.01) * 0.3
    for k in range(int(seconds * bpm / 60.0)):
        index = int(round((first_ms + k * 60_000.0 / bpm) * RATE / 1000))
        out[index:index + len(sound)] += sound
    return (0.8 * out / np.abs(out).max()).astype(np.float32)


def write_song(path, samples: np.ndarray) -> None:
    import soundfile

    soundfile.write(str(path), samples, RATE, format=path.suffix[1:].upper())


def without_first_frame(data: bytes) -> bytes:
    """The mp3 with its first frame (the Xing/Info tag libsndfile's LAME writes) cut out: an mp3 with no tag."""
    header = data[:4]
    assert header[0] == 0xFF and header[1] >> 5 == 0b111 and (header[1] >> 3) & 3 == 3  # MPEG-1, no ID3 before it
    bitrate_kbps = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)[header[2] >> 4]
    frame_bytes = 144 * bitrate_kbps * 1000 // RATE + ((header[2] >> 1) & 1)
    return data[frame_bytes:]


def first_click_ms(path) -> float:
    from models.audio.loading import load_audio

    samples = load_audio(path, sample_rate=RATE)
    return float(np.argmax(np.abs(samples) > 0.05)) * 1000.0 / RATE


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gap")
    samples = click_song()
    wav, mp3, bare = folder / "song.wav", folder / "song.mp3", folder / "bare.mp3"
    write_song(wav, samples)
    write_song(mp3, samples)
    bare.write_bytes(without_first_frame(mp3.read_bytes()))
    return {"wav": wav, "mp3": mp3, "bare": bare}


def test_the_tag_gives_the_gap_our_decoder_cuts(songs):
    from models.audio.playback_delay import playback_delay_ms

    assert playback_delay_ms(songs["mp3"]) == pytest.approx(LAME_GAP_SAMPLES * 1000.0 / RATE)
    assert playback_delay_ms(songs["bare"]) == 0.0 and playback_delay_ms(songs["wav"]) == 0.0
    # our decoder cuts the gap where the tag gives it (the click comes out where it was), and keeps it where
    # nothing does: heard time + playback delay is one time, the time osu! plays the click at, in both files
    assert first_click_ms(songs["mp3"]) == pytest.approx(first_click_ms(songs["wav"]), abs=0.5)
    assert first_click_ms(songs["bare"]) == pytest.approx(first_click_ms(songs["mp3"]) + playback_delay_ms(songs["mp3"]),
                                                         abs=1.5)


def test_mapper_timing_puts_an_mp3s_red_line_where_osu_plays_it(songs, tmp_path):
    from mapperator_cli.app import app

    offsets = {}
    for name, path in songs.items():
        result = CliRunner().invoke(app, ["timing", str(path), "--method", "audio", "--json", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["bpm"] == pytest.approx(150.0)
        offsets[name] = report["offset_ms"]
    # the tagged mp3 is decoded without its gap and the bare one with it: both get the red line osu! needs
    assert offsets["mp3"] == pytest.approx(offsets["bare"], abs=1.5)
    # the same clicks in a WAV (no gap anywhere) play ~25 ms earlier in osu!
    assert offsets["mp3"] - offsets["wav"] == pytest.approx(LAME_GAP_SAMPLES * 1000.0 / RATE, abs=1.5)


@pytest.mark.parametrize("data", [b"", b"ID3", b"\xff\xfb", b"\xff\xfb\x90\xc4" + b"\x00" * 40, bytes(range(256)) * 4,
                                  b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff" * 64])
def test_anything_else_has_no_gap(tmp_path, data):
    from models.audio.playback_delay import playback_delay_ms

    path = tmp_path / "odd.mp3"
    path.write_bytes(data)
    assert playback_delay_ms(path) == 0.0
    assert playback_delay_ms(tmp_path / "missing.mp3") == 0.0


def test_a_fifo_is_not_read(tmp_path):
    import os

    from models.audio.playback_delay import playback_delay_ms

    fifo = tmp_path / "song.mp3"
    os.mkfifo(fifo)
    assert playback_delay_ms(fifo) == 0.0  # returns at once: nothing ever writes to it
